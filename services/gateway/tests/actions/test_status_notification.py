from __future__ import annotations

from typing import Any

from voltline_events.payloads import ConnectorStatus


async def test_1_6_status_is_normalised(answer: Any, bus: Any) -> None:
    payload = {"connectorId": 2, "errorCode": "GroundFailure", "status": "Faulted", "vendorErrorCode": "E42"}
    assert (await answer([2, "s", "StatusNotification", payload]))[2] == {}
    assert bus.events == [
        ConnectorStatus(
            ocpp_version="ocpp1.6",
            evse_id=2,
            connector_id=2,
            status="Faulted",
            error_code="GroundFailure",
            vendor_error_code="E42",
        )
    ]


async def test_2x_status_is_normalised(answer: Any, bus: Any) -> None:
    payload = {"timestamp": "2024-05-01T08:00:00Z", "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1}
    await answer([2, "s", "StatusNotification", payload], "ocpp2.1")
    event = bus.events[0]
    assert isinstance(event, ConnectorStatus)
    assert (event.evse_id, event.connector_id, event.status, event.ocpp_version) == (1, 1, "Occupied", "ocpp2.1")

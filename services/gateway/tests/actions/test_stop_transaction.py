from __future__ import annotations

from typing import Any

from voltline_events.payloads import AuthorizationDecision, StationTransaction
from voltline_gateway.actions.context import AuthFallbacks, Policy

STOP = {
    "transactionId": 77,
    "meterStop": 19500,
    "timestamp": "2024-05-01T09:00:00Z",
    "idTag": "CARD-1",
    "transactionData": [
        {"timestamp": "2024-05-01T08:30:00Z", "sampledValue": [{"value": "15000", "unit": "Wh"}]},
    ],
}


async def test_stop_is_published_as_the_end_with_its_readings(answer: Any, bus: Any) -> None:
    bus.decision = AuthorizationDecision(status="Accepted")
    reply = await answer([2, "t", "StopTransaction", STOP])
    assert reply[2] == {"idTagInfo": {"status": "Accepted"}}
    event = bus.events[0]
    assert isinstance(event, StationTransaction)
    assert (event.kind, event.transaction_id, event.meter_stop_wh, event.stop_reason) == ("ended", "77", 19500, "Local")
    assert event.meter_values[0].values[0].value == "15000"
    assert bus.asked[0].purpose == "stop_transaction"  # type: ignore[attr-defined]


async def test_stop_without_id_tag_asks_nobody(answer: Any, bus: Any) -> None:
    payload = {k: v for k, v in STOP.items() if k != "idTag"} | {"reason": "EVDisconnected"}
    assert (await answer([2, "t", "StopTransaction", payload]))[2] == {}
    assert bus.asked == [] and bus.events[0].stop_reason == "EVDisconnected"  # type: ignore[attr-defined]


async def test_stop_when_auth_is_late_leaves_id_tag_info_out_unless_configured(answer: Any, bus: Any) -> None:
    assert (await answer([2, "t", "StopTransaction", STOP]))[2] == {}
    policy = Policy(auth=AuthFallbacks(stop_transaction="Accepted"))
    assert (await answer([2, "t", "StopTransaction", STOP], policy=policy))[2] == {"idTagInfo": {"status": "Accepted"}}

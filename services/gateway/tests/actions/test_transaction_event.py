from __future__ import annotations

from typing import Any

import pytest
from voltline_events.payloads import AuthorizationDecision, StationTransaction, TransactionRefused


def event(kind: str, seq: int, **extra: Any) -> dict[str, Any]:
    return {
        "eventType": kind,
        "timestamp": "2024-05-01T08:00:00Z",
        "triggerReason": "Authorized",
        "seqNo": seq,
        "transactionInfo": {"transactionId": "TX-9", "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1},
        **extra,
    }


@pytest.mark.parametrize("version", ["ocpp2.0.1", "ocpp2.1"])
async def test_transaction_events_become_station_transactions(answer: Any, bus: Any, version: str) -> None:
    bus.decision = AuthorizationDecision(status="Accepted")
    token = {"idToken": "04A2B3", "type": "ISO14443"}
    started = await answer([2, "1", "TransactionEvent", event("Started", 0, idToken=token)], version)
    assert started[2] == {"idTokenInfo": {"status": "Accepted"}}
    reading = [{"timestamp": "2024-05-01T08:10:00Z", "sampledValue": [{"value": 1500}]}]
    updated = await answer([2, "2", "TransactionEvent", event("Updated", 1, meterValue=reading)], version)
    assert updated[2] == {}
    ended = event("Ended", 2)
    ended["transactionInfo"]["stoppedReason"] = "EVDisconnected"
    await answer([2, "3", "TransactionEvent", ended], version)
    kinds = [(e.kind, e.seq_no, e.transaction_id) for e in bus.events if isinstance(e, StationTransaction)]
    assert kinds == [("started", 0, "TX-9"), ("updated", 1, "TX-9"), ("ended", 2, "TX-9")]
    first, second, third = bus.events
    assert first.id_token.id_token == "04A2B3" and first.evse_id == 1  # type: ignore[attr-defined]
    assert second.meter_values[0].values[0].value == "1500"  # type: ignore[attr-defined]
    assert third.stop_reason == "EVDisconnected"  # type: ignore[attr-defined]
    assert len(bus.asked) == 1 and bus.asked[0].purpose == "transaction_event"  # type: ignore[attr-defined]


async def test_id_token_falls_back_to_invalid_when_auth_is_late(answer: Any, bus: Any) -> None:
    token = {"idToken": "04A2B3", "type": "ISO14443"}
    reply = await answer([2, "1", "TransactionEvent", event("Started", 0, idToken=token)], "ocpp2.0.1")
    assert reply[2] == {"idTokenInfo": {"status": "Invalid"}}


@pytest.mark.parametrize("kind", ["Started", "Updated", "Ended"])
async def test_a_refused_token_of_a_running_transaction_is_published(answer: Any, bus: Any, kind: str) -> None:
    bus.decision = AuthorizationDecision(status="Invalid")
    token = {"idToken": "04A2B3", "type": "ISO14443"}
    reply = await answer([2, "1", "TransactionEvent", event(kind, 0, idToken=token)], "ocpp2.0.1")
    assert reply[2] == {"idTokenInfo": {"status": "Invalid"}}
    refused = [e for e in bus.events if isinstance(e, TransactionRefused)]
    if kind == "Ended":  # the token that stopped it: nothing to undo
        assert refused == []
    else:
        assert [(r.transaction_id, r.status, r.id_token.type) for r in refused] == [("TX-9", "Invalid", "ISO14443")]


async def test_a_started_transaction_names_the_drivers_of_its_token(answer: Any, bus: Any) -> None:
    """ADR 0024: auth's decision on the token gives the driver; events without a token name none."""
    bus.decision = AuthorizationDecision(status="Accepted", driver_id="drv-7")
    token = {"idToken": "04A2B3", "type": "ISO14443"}
    await answer([2, "1", "TransactionEvent", event("Started", 0, idToken=token)], "ocpp2.0.1")
    await answer([2, "2", "TransactionEvent", event("Updated", 1)], "ocpp2.0.1")
    started, updated = bus.events
    assert started.driver_id == "drv-7" and updated.driver_id is None  # type: ignore[attr-defined]

from __future__ import annotations

from typing import Any

from voltline_events.payloads import AuthorizationDecision, StationTransaction, TransactionRefused

START = {"connectorId": 2, "idTag": "CARD-1", "meterStart": 12000, "timestamp": "2024-05-01T08:00:00Z"}


async def test_start_gets_a_deterministic_id_and_is_published(answer: Any, bus: Any) -> None:
    bus.decision = AuthorizationDecision(status="Accepted")
    first = await answer([2, "s1", "StartTransaction", START])
    retry = await answer([2, "s2", "StartTransaction", START])  # the station did not get our answer
    other = await answer([2, "s3", "StartTransaction", {**START, "meterStart": 12001}])
    tx = first[2]["transactionId"]
    assert first[2] == {"transactionId": tx, "idTagInfo": {"status": "Accepted"}}
    assert retry[2]["transactionId"] == tx and other[2]["transactionId"] != tx
    assert 0 < tx < 2**31
    event = bus.events[0]
    assert isinstance(event, StationTransaction)
    assert (event.kind, event.transaction_id, event.connector_id, event.meter_start_wh) == (
        "started",
        str(tx),
        2,
        12000,
    )
    assert event.id_token is not None and event.id_token.id_token == "CARD-1"
    assert bus.asked[0].purpose == "start_transaction" and bus.asked[0].transaction_id == str(tx)  # type: ignore[attr-defined]


async def test_start_falls_back_to_invalid_when_auth_is_late(answer: Any, bus: Any) -> None:
    reply = await answer([2, "s1", "StartTransaction", START])
    assert reply[2]["idTagInfo"] == {"status": "Invalid"}
    assert bus.events[0].kind == "started"  # type: ignore[attr-defined]


async def test_a_refused_start_is_published_after_the_start(answer: Any, bus: Any) -> None:
    bus.decision = AuthorizationDecision(status="Blocked")
    reply = await answer([2, "s1", "StartTransaction", START])
    assert reply[2]["idTagInfo"] == {"status": "Blocked"}
    started, refused = bus.events
    assert isinstance(started, StationTransaction) and isinstance(refused, TransactionRefused)
    assert (refused.transaction_id, refused.status, refused.id_token.id_token) == (
        started.transaction_id,
        "Blocked",
        "CARD-1",
    )
    assert refused.timestamp == started.timestamp


async def test_a_drivers_card_names_the_driver_in_the_start(answer: Any, bus: Any) -> None:
    """ADR 0024: the session service learns the card's driver from the start itself."""
    bus.decision = AuthorizationDecision(status="Accepted", driver_id="drv-7")
    await answer([2, "s1", "StartTransaction", START])
    assert bus.events[0].driver_id == "drv-7"  # type: ignore[attr-defined]
    bus.published.clear()
    bus.decision = AuthorizationDecision(status="Accepted")  # a token of no driver
    await answer([2, "s2", "StartTransaction", {**START, "idTag": "CARD-2"}])
    assert bus.events[0].driver_id is None  # type: ignore[attr-defined]

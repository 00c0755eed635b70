"""A transaction's driver from the published decisions, without waiting for auth (ADR 0024)."""

from __future__ import annotations

from typing import Any

from voltline_events.payloads import AuthorizationDecision, StationTransaction
from voltline_events.payloads.transactions import IdToken
from voltline_gateway.actions import stop_transaction
from voltline_gateway.actions.context import CallContext, Policy
from voltline_gateway.actions.decisions import publish_and_authorize_transaction
from voltline_gateway.domain.normalise import start_transaction_16

START = {"connectorId": 1, "idTag": "CARD-9", "meterStart": 0, "timestamp": "2024-05-01T08:00:00Z"}


class Table:
    def __init__(self, driver_id: str | None) -> None:
        self.driver_id = driver_id

    def decision(self, id_token: str, token_type: str, ocpp_version: str) -> AuthorizationDecision | None:
        return AuthorizationDecision(status="Accepted", driver_id=self.driver_id) if id_token == "CARD-9" else None


async def _start(bus: Any, table: Table) -> AuthorizationDecision:
    ctx = CallContext("CP-1", "ocpp1.6", "m1", bus, Policy(), decisions=table)
    event = start_transaction_16(START, 42)
    return await publish_and_authorize_transaction(
        ctx, event, IdToken(id_token="CARD-9"), "start_transaction", "Invalid", evse_id=1, transaction_id="42"
    )


async def test_the_published_decisions_name_the_driver_while_auth_decides(bus: Any) -> None:
    bus.decision = AuthorizationDecision(status="Blocked")  # auth's answer wins for the status
    decision = await _start(bus, Table("drv-9"))
    assert decision.status == "Blocked" and len(bus.asked) == 1
    (event,) = bus.events
    assert isinstance(event, StationTransaction) and event.driver_id == "drv-9"


async def test_a_late_auth_leaves_the_driver_out(bus: Any) -> None:
    decision = await _start(bus, Table(None))
    assert decision.status == "Invalid" and bus.events[0].driver_id is None  # type: ignore[attr-defined]


async def test_a_stop_names_the_driver_the_published_decisions_know(bus: Any) -> None:
    """A session reconciled from its stop (start never seen) takes the stop's token and driver."""
    stop = {"transactionId": 42, "meterStop": 500, "timestamp": "2024-05-01T09:00:00Z", "idTag": "CARD-9"}
    bus.decision = AuthorizationDecision(status="Accepted")
    await stop_transaction.handle(CallContext("CP-1", "ocpp1.6", "m1", bus, Policy(), decisions=Table("drv-9")), stop)
    await stop_transaction.handle(CallContext("CP-1", "ocpp1.6", "m2", bus, Policy()), stop)  # no table: no driver
    assert [e.driver_id for e in bus.events] == ["drv-9", None]  # type: ignore[attr-defined]

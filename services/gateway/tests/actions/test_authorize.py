from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from structlog.testing import capture_logs
from voltline_devinfra.waiting import eventually
from voltline_events.payloads import (
    AuthorizationDecision,
    AuthorizationRequested,
    AuthorizeAnswered,
    AuthorizeRequested,
)
from voltline_events.payloads.transactions import IdToken
from voltline_gateway.actions import authorize
from voltline_gateway.actions.context import AuthFallbacks, CallContext, Policy


async def test_1_6_asks_auth_and_maps_the_decision_to_id_tag_info(answer: Any, bus: Any) -> None:
    bus.decision = AuthorizationDecision(
        status="Accepted", expiry_date=datetime(2030, 1, 1, tzinfo=UTC), group_id_token="FLEET-7"
    )
    reply = await answer([2, "a", "Authorize", {"idTag": "CARD-1"}])
    assert reply[2] == {
        "idTagInfo": {"status": "Accepted", "expiryDate": "2030-01-01T00:00:00Z", "parentIdTag": "FLEET-7"}
    }
    assert bus.asked == [
        AuthorizationRequested(ocpp_version="ocpp1.6", id_token=IdToken(id_token="CARD-1"), purpose="authorize")
    ]
    assert bus.events == [AuthorizeRequested(ocpp_version="ocpp1.6", id_token=IdToken(id_token="CARD-1"))]


@pytest.mark.parametrize(("status", "in_16"), [("NoCredit", "Invalid"), ("Unknown", "Invalid"), ("Blocked", "Blocked")])
async def test_statuses_1_6_does_not_know_become_invalid(answer: Any, bus: Any, status: str, in_16: str) -> None:
    bus.decision = AuthorizationDecision(status=status)  # type: ignore[arg-type]
    reply = await answer([2, "a", "Authorize", {"idTag": "CARD-1"}])
    assert reply[2]["idTagInfo"]["status"] == in_16


@pytest.mark.parametrize("version", ["ocpp2.0.1", "ocpp2.1"])
async def test_2x_answers_id_token_info(answer: Any, bus: Any, version: str) -> None:
    bus.decision = AuthorizationDecision(status="NotAtThisTime", group_id_token="FLEET-7", language="de")
    token = {"idToken": "04A2B3", "type": "ISO14443"}
    reply = await answer([2, "a", "Authorize", {"idToken": token}], version)
    assert reply[2] == {
        "idTokenInfo": {
            "status": "NotAtThisTime",
            "groupIdToken": {"idToken": "FLEET-7", "type": "Central"},
            "language1": "de",
        }
    }
    assert bus.asked[0].id_token == IdToken(id_token="04A2B3", type="ISO14443")  # type: ignore[attr-defined]


async def test_fallback_when_auth_is_late_is_invalid_by_default_and_configurable(answer: Any, bus: Any) -> None:
    assert (await answer([2, "a", "Authorize", {"idTag": "C"}]))[2] == {"idTagInfo": {"status": "Invalid"}}
    lenient = Policy(auth=AuthFallbacks(authorize="Accepted"))
    assert (await answer([2, "a", "Authorize", {"idTag": "C"}], policy=lenient))[2]["idTagInfo"]["status"] == "Accepted"
    assert len(bus.published) == 2  # published even when the decision is a fallback


async def test_the_answer_follows_as_station_authorize_answered(answer: Any, bus: Any) -> None:
    bus.decision = AuthorizationDecision(status="Accepted")
    await answer([2, "a", "Authorize", {"idTag": "CARD-1"}])
    bus.decision = None  # late: the fallback (Invalid) is what the station was told
    await answer([2, "b", "Authorize", {"idTag": "CARD-1"}])
    await asyncio.sleep(0)
    answered = [(e.status, m) for e, _, m in bus.published if isinstance(e, AuthorizeAnswered)]
    assert answered == [("Accepted", "a"), ("Invalid", "b")]


class _Table:
    def decision(self, id_token: str, token_type: str, ocpp_version: str) -> AuthorizationDecision | None:
        return AuthorizationDecision(status="Accepted")


async def test_a_local_answer_queues_its_events_in_order_and_a_failed_publish_is_logged(bus: Any) -> None:
    """ADR 0015 addendum: the answer does not wait for the publish; a failure is logged, the station answered."""
    ctx = CallContext("CP-1", "ocpp1.6", "m1", bus, Policy(), decisions=_Table())
    assert await authorize.handle(ctx, {"idTag": "CARD-1"}) == {"idTagInfo": {"status": "Accepted"}}
    await eventually(lambda: len(bus.events) == 2)
    assert [type(e) for e in bus.events] == [AuthorizeRequested, AuthorizeAnswered]
    bus.fail = True  # the broker is gone
    with capture_logs() as logs:
        assert await authorize.handle(ctx, {"idTag": "CARD-1"}) == {"idTagInfo": {"status": "Accepted"}}
        await eventually(lambda: len(logs) == 2)
    assert [e.get("event_type") for e in logs] == ["station.authorize", "station.authorize_answered"]

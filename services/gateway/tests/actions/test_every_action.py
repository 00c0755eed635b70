"""Every action of the routing table, per version: a valid call is published and answered with a valid result,
an invalid one gets a CallError and publishes nothing, and decisions fall back when auth is late."""

from __future__ import annotations

from typing import Any

import pytest
from voltline_events.payloads import AuthorizationDecision, BootDecision
from voltline_gateway.actions import ROUTES
from voltline_gateway.adapters.validation import validate_result

CASES = [(version, action) for version, routes in ROUTES.items() for action in sorted(routes)]
SEND_ONLY = {("ocpp2.1", "NotifyPeriodicEventStream")}


def decision_for(action: str) -> Any:
    return (
        BootDecision(status="Accepted", interval=300)
        if action == "BootNotification"
        else AuthorizationDecision(status="Accepted")
    )


@pytest.mark.parametrize(("version", "action"), CASES)
@pytest.mark.parametrize("full", [False, True], ids=["required", "all-fields"])
async def test_valid_call_is_published_and_answered(
    answer: Any, bus: Any, examples: Any, version: str, action: str, full: bool
) -> None:
    bus.decision = decision_for(action)
    payload = examples.payload(version, action, full=full)
    if (version, action) in SEND_ONLY:
        assert await answer([6, "m1", action, payload], version) is None
    else:
        reply = await answer([2, "m1", action, payload], version)
        assert reply[:2] == [3, "m1"], reply
        validate_result(version, action, reply[2])
    assert bus.published, "everything a station sends is published"
    assert all(sid == "CP-1" for _, sid, _ in bus.published)


@pytest.mark.parametrize(("version", "action"), [c for c in CASES if c not in SEND_ONLY])
async def test_invalid_call_gets_a_call_error_and_is_not_published(
    answer: Any, bus: Any, version: str, action: str
) -> None:
    reply = await answer([2, "m2", action, {"zzNotAField": 1}], version)
    assert reply[0] == 4 and reply[1] == "m2"
    assert reply[2] in {
        "FormatViolation",
        "FormationViolation",
        "OccurenceConstraintViolation",
        "OccurrenceConstraintViolation",
    }
    assert bus.published == []


@pytest.mark.parametrize(("version", "action"), [c for c in CASES if c not in SEND_ONLY])
async def test_answer_stands_when_auth_is_late(answer: Any, bus: Any, examples: Any, version: str, action: str) -> None:
    bus.decision = None
    reply = await answer([2, "m3", action, examples.payload(version, action, full=True)], version)
    assert reply[0] == 3, reply
    validate_result(version, action, reply[2])

"""The gateway's copy of auth's published Authorize answers: what it answers and when it asks auth instead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from voltline_events import envelope_for
from voltline_events.payloads import AuthorizationDecision, TokenDecisions
from voltline_gateway.adapters.decision_table import DecisionTable

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def record(value: str, valid_until: datetime | None = None, **answers: str) -> bytes:
    event = TokenDecisions(
        id_token=value,
        decisions={k: AuthorizationDecision(status=v) for k, v in answers.items()},  # type: ignore[arg-type]
        valid_until=valid_until,
        decided_at=NOW,
    )
    return envelope_for(event, source="auth/test").to_bytes()


def table() -> DecisionTable:
    decisions = DecisionTable(clock=lambda: NOW)
    decisions.caught_up.set()
    return decisions


def status(decisions: DecisionTable, value: str, token_type: str, version: str) -> str | None:
    found = decisions.decision(value, token_type, version)
    return None if found is None else found.status


def test_answers_per_version_and_type_case_insensitively() -> None:
    decisions = table()
    decisions.apply(b"CARD-1", record("CARD-1", **{"ocpp1.6": "Accepted", "ISO14443": "Accepted", "Local": "Invalid"}))
    assert status(decisions, "card-1", "ISO14443", "ocpp1.6") == "Accepted"
    assert status(decisions, "CARD-1", "Local", "ocpp2.0.1") == "Invalid"
    assert status(decisions, "CARD-1", "Local", "ocpp1.6") == "Accepted"  # 1.6 has one answer whatever the type
    assert status(decisions, "CARD-1", "KeyCode", "ocpp2.1") is None  # not covered: ask auth
    assert status(decisions, "OTHER", "ISO14443", "ocpp1.6") is None


def test_nothing_is_answered_before_the_table_is_read_to_its_end() -> None:
    decisions = DecisionTable(clock=lambda: NOW)
    decisions.apply(b"CARD-1", record("CARD-1", **{"ocpp1.6": "Accepted"}))
    assert status(decisions, "CARD-1", "ISO14443", "ocpp1.6") is None  # a revocation may still follow
    decisions.caught_up.set()
    assert status(decisions, "CARD-1", "ISO14443", "ocpp1.6") == "Accepted"
    decisions.clear()  # the broker restarted empty
    assert status(decisions, "CARD-1", "ISO14443", "ocpp1.6") is None and not decisions.caught_up.is_set()


def test_a_snapshot_past_its_validity_a_withdrawn_record_and_garbage_are_asked_of_auth() -> None:
    decisions = table()
    decisions.apply(b"EXP", record("EXP", valid_until=NOW, **{"ocpp1.6": "Accepted"}))
    assert status(decisions, "EXP", "ISO14443", "ocpp1.6") is None
    decisions.apply(b"LATER", record("LATER", valid_until=NOW + timedelta(seconds=1), **{"ocpp1.6": "Accepted"}))
    assert status(decisions, "LATER", "ISO14443", "ocpp1.6") == "Accepted"
    decisions.apply(b"LATER", record("LATER"))  # deleted: no answers
    assert status(decisions, "LATER", "ISO14443", "ocpp1.6") is None
    decisions.apply(b"BAD", record("BAD", **{"ocpp1.6": "Accepted"}))
    decisions.apply(b"BAD", b"not an envelope")  # never keep answering from what may be outdated
    assert status(decisions, "BAD", "ISO14443", "ocpp1.6") is None
    decisions.apply(b"GONE", record("GONE", **{"ocpp1.6": "Blocked"}))
    decisions.apply(b"GONE", None)
    assert status(decisions, "GONE", "ISO14443", "ocpp1.6") is None and len(decisions) == 1

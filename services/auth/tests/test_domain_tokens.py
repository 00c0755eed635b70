"""The authorisation rule, as a table: one row per decision path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from voltline_auth.domain.tokens import (
    OCPP16,
    IdToken,
    InvalidToken,
    Lookup,
    TokenView,
    authorize_answers,
    check_id_token,
    decide,
    needs_session_count,
    normalise,
    pick,
)

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


def view(
    status: str = "Accepted", *, expires: datetime | None = None, limit: int | None = None, **kw: object
) -> TokenView:
    token = IdToken(
        str(kw.get("id_token", "T-1")),
        str(kw.get("type", "ISO14443")),
        status,  # type: ignore[arg-type]
        "drv-1" if kw.get("driver", True) else None,
        expires,
        "G-1",
        NOW,
        NOW,
    )
    return TokenView(token, language="fr", max_concurrent_sessions=limit)


@pytest.mark.parametrize(
    ("lookup", "purpose", "active", "status"),
    [
        (Lookup(view()), "authorize", None, "Accepted"),
        (Lookup(None), "authorize", None, "Unknown"),
        (Lookup(None, ambiguous=True), "authorize", None, "Invalid"),
        (Lookup(view("Blocked")), "authorize", None, "Blocked"),
        (Lookup(view("Expired")), "authorize", None, "Expired"),
        (Lookup(view("Invalid")), "start_transaction", None, "Invalid"),
        (Lookup(view(expires=NOW)), "authorize", None, "Expired"),
        (Lookup(view(expires=NOW + timedelta(seconds=1))), "authorize", None, "Accepted"),
        (Lookup(view(limit=1)), "start_transaction", 1, "ConcurrentTx"),
        (Lookup(view(limit=1)), "transaction_event", 1, "ConcurrentTx"),
        (Lookup(view(limit=2)), "start_transaction", 1, "Accepted"),
        (Lookup(view(limit=1)), "authorize", 1, "Accepted"),  # ConcurrentTx answers transaction starts only
        (Lookup(view(limit=1)), "stop_transaction", 1, "Accepted"),
        (Lookup(view("Blocked", limit=1)), "start_transaction", 5, "Blocked"),  # blocked wins over the limit
    ],
)
def test_decision_table(lookup: Lookup, purpose: str, active: int | None, status: str) -> None:
    assert decide(lookup, now=NOW, purpose=purpose, active_sessions=active).status == status


def test_known_tokens_carry_expiry_group_language_and_driver() -> None:
    expiry = NOW + timedelta(days=1)
    decision = decide(Lookup(view("Blocked", expires=expiry)), now=NOW, purpose="authorize")
    assert (decision.expiry_date, decision.group_id_token, decision.language, decision.driver_id) == (
        expiry,
        "G-1",
        "fr",
        "drv-1",
    )
    assert decide(Lookup(None), now=NOW, purpose="authorize").driver_id is None


def test_sessions_are_counted_only_when_the_answer_depends_on_it() -> None:
    assert needs_session_count(Lookup(view(limit=1)), "start_transaction")
    assert not needs_session_count(Lookup(view(limit=1)), "authorize")
    assert not needs_session_count(Lookup(view()), "start_transaction")
    assert not needs_session_count(Lookup(view(limit=1, driver=False)), "start_transaction")
    assert not needs_session_count(Lookup(None), "start_transaction")


def test_pick_prefers_the_exact_type_else_the_value_when_it_names_one_holder() -> None:
    rfid, key = view(type="ISO14443"), view(type="KeyCode")
    assert pick([rfid, key], "KeyCode", "ocpp2.0.1").view is key
    assert pick([rfid, key], "ISO14443", "ocpp1.6").view is rfid  # an exact match is never ambiguous
    for version in ("ocpp1.6", "ocpp2.0.1"):
        # the card registered as Local, sent as ISO14443 (TransactionEvent) or as a 1.6 idTag: its value names it
        local = view(type="Local")
        assert pick([local], "ISO14443", version).view is local
        # registered under two types for the same driver, same standing: still one holder
        assert pick([key, local], "ISO14443", version).view is key
        # two registrations that would be answered differently: ambiguous, never a guess
        assert pick([key, view("Blocked", type="Local")], "ISO14443", version).ambiguous
        assert pick([], "ISO14443", version) == Lookup(None)
    # the strict rule: 2.x types must match; 1.6 has none, so its value still decides
    assert pick([key], "ISO14443", "ocpp2.0.1", "exact").view is None
    assert pick([key], "ISO14443", "ocpp1.6", "exact").view is key


def test_id_token_rules_name_the_field() -> None:
    check_id_token("04A2B3C4D5E6F7", "ISO14443")
    check_id_token("", "NoAuthorization")
    for bad, kind, field in [
        ("X", "Magic", "type"),
        ("X" * 37, "ISO14443", "id_token"),
        ("has space", "ISO14443", "id_token"),
        ("", "ISO14443", "id_token"),
    ]:
        with pytest.raises(InvalidToken) as exc:
            check_id_token(bad, kind)
        assert exc.value.field == field
    assert normalise("04a2b3") == "04A2B3"


def test_authorize_answers_are_the_decisions_for_every_presented_type() -> None:
    now = datetime(2026, 12, 5, tzinfo=UTC)
    soon = now + timedelta(days=1)
    card = IdToken("CARD", "ISO14443", "Accepted", None, soon, "G", now, now)
    key = IdToken("CARD", "KeyCode", "Blocked", None, None, None, now, now)
    answers, valid_until = authorize_answers([TokenView(card), TokenView(key)], now=now)
    assert valid_until == soon  # the Accepted answer turns into Expired then
    assert answers["ISO14443"].status == "Accepted" and answers["ISO14443"].group_id_token == "G"
    assert answers["KeyCode"].status == "Blocked"
    assert answers[OCPP16].status == "Accepted"  # 1.6 idTags arrive as ISO14443: that registration answers
    assert answers["Local"].status == "Invalid"  # two standings and no exact type: ambiguous
    assert authorize_answers([], now=now) == ({}, None)

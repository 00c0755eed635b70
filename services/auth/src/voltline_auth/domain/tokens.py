"""Drivers, their id tokens, and the one rule that matters: may this token charge now?"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, get_args

# OCPP 2.0.1 IdTokenEnumType. 1.6 has no types: its idTags arrive as ISO14443.
IdTokenType = Literal["Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress", "NoAuthorization"]
ID_TOKEN_TYPES: tuple[str, ...] = get_args(IdTokenType)
# What an operator may store; the decisions add Unknown and ConcurrentTx.
TokenStatus = Literal["Accepted", "Blocked", "Expired", "Invalid"]
TOKEN_STATUSES: tuple[str, ...] = get_args(TokenStatus)
Purpose = Literal["authorize", "start_transaction", "transaction_event", "stop_transaction"]
# ConcurrentTx is "only relevant for StartTransaction.req" (1.6) and TransactionEvent(Started) (2.x).
LIMITED_PURPOSES: frozenset[str] = frozenset({"start_transaction", "transaction_event"})
ID_TOKEN_MAX = 36  # 2.0.1 IdTokenType.idToken; 1.6 idTags are 20 (longer tokens never reach 1.6 lists)
_PRINTABLE = re.compile(r"^[\x21-\x7e]*$")


class InvalidToken(ValueError):
    """A driver or token that breaks a rule; the message names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def normalise(id_token: str) -> str:
    """OCPP id tokens are case-insensitive (1.6 CiString, 2.0.1 "IdToken is case insensitive")."""
    return id_token.upper()


def check_id_token(id_token: str, token_type: str) -> None:
    if token_type not in ID_TOKEN_TYPES:
        raise InvalidToken("type", f"type must be one of {', '.join(ID_TOKEN_TYPES)}")
    if len(id_token) > ID_TOKEN_MAX:
        raise InvalidToken("id_token", f"id_token must be at most {ID_TOKEN_MAX} characters (OCPP 2.0.1)")
    if not _PRINTABLE.match(id_token):
        raise InvalidToken("id_token", "id_token must be printable ASCII without spaces")
    if not id_token and token_type != "NoAuthorization":
        raise InvalidToken("id_token", "id_token may be empty only for type NoAuthorization")


@dataclass(frozen=True)
class Driver:
    driver_id: str
    name: str
    email: str
    phone: str | None
    language: str | None
    max_concurrent_sessions: int | None  # None: no limit
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class IdToken:
    id_token: str
    type: str
    status: TokenStatus
    driver_id: str | None
    expires_at: datetime | None
    group_id: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def key(self) -> str:
        return normalise(self.id_token)

    def changed(self, at: datetime, **changes: object) -> IdToken:
        return replace(self, updated_at=at, **changes)  # type: ignore[arg-type]  # **changes: fields named by caller

    def usable_at(self, now: datetime) -> bool:
        """Would a station holding this token in its local list or cache let it charge?"""
        return self.status == "Accepted" and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True)
class TokenView:
    """What a decision needs: the token plus the few driver fields that shape the answer."""

    token: IdToken
    language: str | None = None
    max_concurrent_sessions: int | None = None


@dataclass(frozen=True)
class Lookup:
    """The result of finding a presented token: one match, none, or several (a 1.6 idTag of many types)."""

    view: TokenView | None
    ambiguous: bool = False


@dataclass(frozen=True)
class Decision:
    status: str
    reason: str
    expiry_date: datetime | None = None
    group_id_token: str | None = None
    language: str | None = None
    driver_id: str | None = None


def decide(lookup: Lookup, *, now: datetime, purpose: str, active_sessions: int | None = None) -> Decision:
    """The authorisation answer. `active_sessions`: the driver's other running sessions, when it matters."""
    if lookup.ambiguous:
        return Decision(
            "Invalid", "id token matches tokens of several types that belong to different holders; ask with its type"
        )
    if lookup.view is None:
        return Decision("Unknown", "id token not registered")
    view, token = lookup.view, lookup.view.token

    def answer(status: str, reason: str) -> Decision:
        return Decision(
            status,
            reason,
            expiry_date=token.expires_at,
            group_id_token=token.group_id,
            language=view.language,
            driver_id=token.driver_id,
        )

    if token.status != "Accepted":
        return answer(token.status, f"token is {token.status.lower()}")
    if token.expires_at is not None and token.expires_at <= now:
        return answer("Expired", "token expired")
    limit = view.max_concurrent_sessions
    if purpose in LIMITED_PURPOSES and limit is not None and active_sessions is not None and active_sessions >= limit:
        return answer("ConcurrentTx", f"driver already has {active_sessions} of {limit} sessions running")
    return answer("Accepted", "accepted")


def needs_session_count(lookup: Lookup, purpose: str) -> bool:
    """Count running sessions only when the answer can depend on it (keeps Authorize a pure cache hit)."""
    view = lookup.view
    return (
        view is not None
        and purpose in LIMITED_PURPOSES
        and view.max_concurrent_sessions is not None
        and view.token.driver_id is not None
    )


# How a presented token's type must match the registered one (VOLTLINE_ID_TOKEN_TYPE_MATCH, docs/auth.md):
# "value" (default): the exact type if registered, else the value alone when it names one token holder
# unambiguously (stations send the same card as Local in Authorize and ISO14443 in TransactionEvent);
# "exact": 2.x types must match exactly (1.6 has no types and always matches on the value).
TYPE_MATCH_VALUE = "value"
TYPE_MATCH_EXACT = "exact"


def _one_holder(candidates: list[TokenView]) -> bool:
    """Registrations of one value that would all get the same answer: the same driver, standing and group."""
    first = candidates[0].token
    return all(
        (c.token.driver_id, c.token.status, c.token.group_id, c.token.expires_at)
        == (first.driver_id, first.status, first.group_id, first.expires_at)
        for c in candidates
    )


def pick(candidates: list[TokenView], presented_type: str, ocpp_version: str, match: str = TYPE_MATCH_VALUE) -> Lookup:
    """Choose among tokens with the presented value: the exact type first; else (the "value" rule, and always in
    1.6, which has no types) the value alone, when all its registrations are one holder's; else ambiguous."""
    exact = [c for c in candidates if c.token.type == presented_type]
    if exact:
        return Lookup(exact[0])
    if not candidates or (match == TYPE_MATCH_EXACT and ocpp_version != "ocpp1.6"):
        return Lookup(None)
    return Lookup(candidates[0]) if _one_holder(candidates) else Lookup(None, ambiguous=True)


# The presented "type" under which a 1.6 idTag's answer is published (1.6 has no token types).
OCPP16 = "ocpp1.6"


def authorize_answers(
    candidates: list[TokenView], *, now: datetime, match: str = TYPE_MATCH_VALUE
) -> tuple[dict[str, Decision], datetime | None]:
    """Every Authorize answer for one token value, ahead of time, for the gateway to apply (ADR 0015).

    Keyed by the 2.x type a station may present, and OCPP16 for a 1.6 idTag; an Authorize never depends on the
    driver's running sessions, only on the token and the clock. The second value is when these answers stop
    being true by time alone (the earliest future expiry), None when only a change of the token can.
    """
    answers: dict[str, Decision] = {}
    if not candidates:
        return answers, None
    for presented, version in [(t, "ocpp2.0.1") for t in ID_TOKEN_TYPES] + [("ISO14443", OCPP16)]:
        lookup = pick(candidates, presented, version, match)
        answers[OCPP16 if version == OCPP16 else presented] = decide(lookup, now=now, purpose="authorize")
    expiries = [c.token.expires_at for c in candidates if c.token.expires_at is not None and c.token.expires_at > now]
    return answers, min(expiries, default=None)

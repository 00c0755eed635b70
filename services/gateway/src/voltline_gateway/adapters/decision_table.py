"""The gateway's copy of the auth service's published Authorize answers (`auth.token_decisions`, ADR 0015).

The gateway applies a decision, it never computes one: the record of the presented token's value says what
auth would answer, per version and presented type, until `valid_until`. Anything it does not cover (a value
never published, a type not listed, an expired snapshot, a table still being read) is asked of auth.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from pydantic import ValidationError
from voltline_events import Envelope, decode_payload
from voltline_events.payloads import AuthorizationDecision, TokenDecisions

from voltline_gateway.metrics import DECISION_TABLE_SIZE

log = structlog.get_logger()


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DecisionTable:
    def __init__(self, clock: Callable[[], datetime] = _utcnow) -> None:
        self._records: dict[str, TokenDecisions] = {}
        self._clock = clock
        # Set by the topic's follower once it has read what was there at start: until then an old record may
        # still be followed by a newer one (a revocation), so nothing is answered from the table.
        self.caught_up = asyncio.Event()

    def __len__(self) -> int:
        return len(self._records)

    def decision(self, id_token: str, token_type: str, ocpp_version: str) -> AuthorizationDecision | None:
        """Auth's published Authorize answer for this presented token, or None (ask auth)."""
        if not self.caught_up.is_set():
            return None
        record = self._records.get(id_token.upper())  # normalised as auth's domain does (case-insensitive)
        if record is None:
            return None
        return record.decision_for(ocpp_version, token_type, self._clock())

    def clear(self) -> None:
        """Forget everything and answer nothing until read again (the broker restarted empty)."""
        self.caught_up.clear()
        self._records.clear()
        DECISION_TABLE_SIZE.set(0)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """One record of the decisions topic (TopicTail handler); a tombstone or an empty record removes it."""
        if key is None:
            return
        id_token = key.decode(errors="replace")
        if value is None:
            self._records.pop(id_token, None)
            DECISION_TABLE_SIZE.set(len(self._records))
            return
        try:
            event = decode_payload(Envelope.from_bytes(value))
        except (ValidationError, ValueError) as exc:
            self._records.pop(id_token, None)  # never keep answering from what may be outdated
            log.warning("unreadable token decisions skipped", error=str(exc)[:200])
            return
        if not isinstance(event, TokenDecisions):
            return
        if event.decisions:
            self._records[id_token] = event
        else:
            self._records.pop(id_token, None)
        DECISION_TABLE_SIZE.set(len(self._records))

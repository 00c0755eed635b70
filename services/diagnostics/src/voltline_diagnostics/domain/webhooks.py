"""Webhook rules (pure): which subscription gets which alert, how a delivery is signed, when it is retried.

Signature: header `X-Voltline-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, so a
receiver checks both the body and its freshness (replays of an old delivery carry an old `t`).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

SIGNATURE_HEADER = "X-Voltline-Signature"
EVENT_HEADER = "X-Voltline-Event"
DELIVERY_HEADER = "X-Voltline-Delivery"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes) -> bool:
    """What a receiver does (used by the tests and shown in docs/diagnostics.md)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if "t" not in parts or "v1" not in parts:
        return False
    return hmac.compare_digest(signature(secret, int(parts["t"]), body), header)


@dataclass(frozen=True)
class Filter:
    rules: frozenset[str] = frozenset()
    severities: frozenset[str] = frozenset()
    station_ids: frozenset[str] = frozenset()

    def matches(self, rule: str, severity: str, station_id: str) -> bool:
        """Empty means any."""
        return (
            (not self.rules or rule in self.rules)
            and (not self.severities or severity in self.severities)
            and (not self.station_ids or station_id in self.station_ids)
        )


@dataclass(frozen=True)
class Backoff:
    initial: timedelta = timedelta(seconds=2)
    maximum: timedelta = timedelta(minutes=10)
    attempts: int = 8

    def delay(self, attempt: int) -> timedelta:
        """Wait after the `attempt`-th failed attempt (1-based): doubling, capped."""
        factor: int = 2 ** (attempt - 1)
        return min(self.initial * factor, self.maximum)

    def gives_up(self, attempt: int) -> bool:
        return attempt >= self.attempts

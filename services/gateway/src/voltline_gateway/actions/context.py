"""What an action handler gets: who called, the ways out (publish an event, ask a service), and the policy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from voltline_events import Event
from voltline_events.payloads import AuthorizationDecision

from voltline_gateway.domain.normalise import Prepared


class StationBus(Protocol):
    """The gateway's view of Kafka; implemented in adapters.bus, faked nowhere in integration tests."""

    async def publish(self, event: Event | Prepared, *, station_id: str, message_id: str | None = None) -> None:
        """Return once the broker has the event durably; raise when it cannot within the publish timeout."""

    def publish_soon(
        self, event: Event | Prepared, *, station_id: str, message_id: str | None = None
    ) -> Coroutine[None, None, None]:
        """Queue the event at once; awaiting the result is awaiting `publish` (it must be awaited)."""

    async def ask_auth(self, request: Event, *, station_id: str, message_id: str | None = None) -> Event | None:
        """Ask the auth service; None when it did not answer in time (callers apply their fallback)."""


class LocalDecisions(Protocol):
    """The auth service's published Authorize answers (adapters.decision_table; ADR 0015)."""

    def decision(self, id_token: str, token_type: str, ocpp_version: str) -> AuthorizationDecision | None:
        """Auth's answer to an Authorize of this presented token, or None: ask auth."""


@dataclass(frozen=True)
class BootFallback:
    """What a station is told when the auth service does not answer a boot in time."""

    status: str = "Pending"
    interval: int = 60


@dataclass(frozen=True)
class AuthFallbacks:
    """The authorization status used when the auth service does not answer in time, per purpose.

    None (stop_transaction only) leaves idTagInfo out of the answer, which 1.6 allows.
    """

    authorize: str = "Invalid"
    start_transaction: str = "Invalid"
    transaction_event: str = "Invalid"
    stop_transaction: str | None = None


@dataclass(frozen=True)
class Policy:
    boot: BootFallback = field(default_factory=BootFallback)
    auth: AuthFallbacks = field(default_factory=AuthFallbacks)
    data_transfer_vendors: frozenset[str] = frozenset()


class StationLink(Protocol):
    """The connection a call came on, as handlers see it."""

    station_id: str
    ocpp_version: str
    vendor: str | None
    model: str | None

    def booted(self, vendor: str, model: str, status: str) -> None:
        """Remember the station's model (for leniency rules) and its last boot status."""


@dataclass(slots=True)
class CallContext:
    station_id: str
    ocpp_version: str
    message_id: str
    bus: StationBus
    policy: Policy
    link: StationLink | None = None
    decisions: LocalDecisions | None = None


Handler = Callable[[CallContext, dict[str, Any]], Awaitable[dict[str, Any]]]


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

"""What an action handler gets: who called, and the two ways out (publish an event, ask a service)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from voltline_events import Event


class StationBus(Protocol):
    """The gateway's view of Kafka; implemented in adapters.bus, faked nowhere in integration tests."""

    async def publish(self, event: Event, *, station_id: str, message_id: str | None = None) -> None:
        """Return once the broker has the event durably."""

    async def ask_auth(self, request: Event, *, station_id: str, message_id: str | None = None) -> Event | None:
        """Ask the auth service; None when it did not answer in time (callers apply their fallback)."""


@dataclass(frozen=True)
class BootFallback:
    """What a station is told when the auth service does not answer a boot in time."""

    status: str = "Pending"
    interval: int = 60


@dataclass(frozen=True)
class CallContext:
    station_id: str
    ocpp_version: str
    message_id: str
    bus: StationBus
    boot_fallback: BootFallback


Handler = Callable[[CallContext, dict[str, Any]], Awaitable[dict[str, Any]]]


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

"""What the use cases share besides a transaction: built once in bootstrap.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from voltline_events import Event, Topics, envelope_for, station_key
from voltline_events.payloads.commands import StationCommandResult

from voltline_auth.domain.access import AuditEntry
from voltline_auth.domain.station_commands import Command
from voltline_auth.service_layer.token_cache import TokenCache
from voltline_auth.service_layer.unit_of_work import AuthUnitOfWork

UowFactory = Callable[[], AuthUnitOfWork]
Clock = Callable[[], datetime]


class CommandSender(Protocol):
    """Sends one OCPP call to a station through the gateway holding it; never raises for the station's sake."""

    async def send(self, station_id: str, command: Command, ocpp_version: str | None) -> StationCommandResult: ...


async def _nothing_to_wait_for() -> None:
    return None


@dataclass
class AuthContext:
    uow: UowFactory
    topics: Topics
    source: str
    clock: Clock
    tokens: TokenCache
    commands: CommandSender
    # Wakes the station sync worker after a commit that left stations something to do.
    kick: Callable[[], None]
    # Writes buffered decision log rows, so a query right after sees them (which stations accepted a token).
    settle: Callable[[], Awaitable[None]]
    # How long a station may keep a token in its authorisation cache, as far as we are concerned.
    cache_window: timedelta = timedelta(days=30)
    boot_sync_delay: timedelta = timedelta(seconds=2)
    # How a presented token type must match the registered one: "value" or "exact" (domain.tokens.pick).
    type_match: str = "value"
    # Signs the API-key records other services honour (voltline_chassis.api_keys.record_signing_key).
    api_key_signing: bytes | None = None
    # Waits until the token changes made so far are published to the gateways (ADR 0015); bounded, never raises.
    decisions_published: Callable[[], Awaitable[object]] = _nothing_to_wait_for


async def audit(
    ctx: AuthContext,
    uow: AuthUnitOfWork,
    actor: str,
    action: str,
    target_type: str,
    target_id: str | None,
    **details: Any,
) -> None:
    """Record a change in the same transaction as the change itself."""
    clean = {k: _jsonable(v) for k, v in details.items() if v is not None}
    await uow.audit.add(AuditEntry(ctx.clock(), actor, action, target_type, target_id, clean))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return value


def publish(ctx: AuthContext, uow: AuthUnitOfWork, topic: str, event: Event, key: str, station: bool = True) -> None:
    """Queue an event in the outbox of this transaction, keyed by `key` (a station id unless told otherwise)."""
    envelope = envelope_for(event, source=ctx.source, station_id=key if station else None)
    uow.outbox.add(topic, envelope, key=station_key(key) if station else key.encode())

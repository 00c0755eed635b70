"""What the auth service does with the requests and events it consumes: two handler tables.

Requests (boot and authorisation decisions) have their own consumer group so that a burst of
station events never delays an answer the gateway is waiting for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from voltline_bus import Dispatcher, Producer, reply
from voltline_chassis.logging import get_logger
from voltline_events import Envelope, UnknownEventError, decode_payload
from voltline_events.payloads import (
    AuthorizationDecision,
    AuthorizationRequested,
    AuthorizeAnswered,
    BootNotification,
    SessionEnded,
    SessionStarted,
    StationConnected,
    StationCredentialsRequested,
    StationDisconnected,
)

from voltline_auth.domain.stations import BootPolicy
from voltline_auth.service_layer import presence
from voltline_auth.service_layer import stations as uc
from voltline_auth.service_layer.context import AuthContext
from voltline_auth.service_layer.decisions import decide_authorization, record_local_answer

log = get_logger(__name__)


def build_request_dispatcher(
    ctx: AuthContext, policy: BootPolicy, producer: Producer, record: Callable[[dict[str, Any]], None]
) -> Dispatcher:
    async def boot_decision_requested(request: Envelope) -> None:
        if request.station_id is None:
            raise ValueError("a boot decision request must name its station")
        decision = await uc.answer_boot(ctx, policy, request.station_id)
        await reply(producer, request, decision, source=ctx.source)
        ctx.kick()

    async def authorization_requested(request: Envelope) -> None:
        try:
            asked = decode_payload(request)
            if request.station_id is None or not isinstance(asked, AuthorizationRequested):
                raise ValueError("an authorisation request must name its station")
        except (ValidationError, UnknownEventError, ValueError) as exc:
            # The gateway is waiting: a clear "Invalid" beats a timeout; the reason goes to the log.
            log.warning("unreadable authorization request answered Invalid", error=str(exc)[:500])
            await reply(producer, request, AuthorizationDecision(status="Invalid"), source=ctx.source)
            return
        decision = await decide_authorization(ctx, record, request.station_id, asked)
        await reply(producer, request, decision, source=ctx.source)

    async def credentials_requested(request: Envelope) -> None:
        if request.station_id is None:
            raise ValueError("a credentials request must name its station")
        await reply(producer, request, await uc.station_credentials(ctx, request.station_id), source=ctx.source)

    return Dispatcher(
        {
            "auth.boot_decision.requested": boot_decision_requested,
            StationCredentialsRequested.TYPE: credentials_requested,
            AuthorizationRequested.TYPE: authorization_requested,
        }
    )


def build_event_dispatcher(ctx: AuthContext, record: Callable[[dict[str, Any]], None] | None = None) -> Dispatcher:
    """Typed handlers: the library decodes and narrows; the presence use cases keep their own inbox check.

    `record`: where the Authorize answers the gateway gave alone (from the published decisions) are logged."""
    dispatcher = Dispatcher()

    if record is not None:
        recorder = record

        @dispatcher.on
        async def authorize_answered(event: AuthorizeAnswered, envelope: Envelope) -> None:
            if event.local and event.id_token is not None and envelope.station_id is not None:
                # Once per event: the lifecycle copy of an answer read from the station stream before is not logged
                # again when auth moves to the lifecycle topic (ADR 0037), nor a replayed one.
                if await presence.first_time(ctx, envelope):
                    record_local_answer(recorder, envelope.station_id, event, envelope.time)

    @dispatcher.on
    async def connected(event: StationConnected, envelope: Envelope) -> None:
        await presence.station_connected(ctx, envelope, event)

    @dispatcher.on
    async def booted(event: BootNotification, envelope: Envelope) -> None:
        await presence.station_booted(ctx, envelope, event.ocpp_version)

    @dispatcher.on
    async def disconnected(event: StationDisconnected, envelope: Envelope) -> None:
        await presence.station_disconnected(ctx, envelope, event)

    @dispatcher.on
    async def session_started(event: SessionStarted, envelope: Envelope) -> None:
        await presence.session_started(ctx, envelope, event)

    @dispatcher.on
    async def session_ended(event: SessionEnded, envelope: Envelope) -> None:
        await presence.session_ended(ctx, envelope, event)

    return dispatcher

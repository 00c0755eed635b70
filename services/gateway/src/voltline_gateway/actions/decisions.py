"""Asking the auth service whether an id token may charge, while the station's event goes to Kafka.

Publishing and asking run side by side: the answer waits for both (the event must be durable before the
station hears back), but not for one after the other.
"""

from __future__ import annotations

import asyncio
import functools
from datetime import datetime

import structlog
from voltline_events import Event
from voltline_events.payloads.authorization import AuthorizationDecision, AuthorizationPurpose, AuthorizationRequested
from voltline_events.payloads.refusals import TransactionRefused
from voltline_events.payloads.transactions import IdToken

from voltline_gateway.actions.context import CallContext
from voltline_gateway.domain.normalise import Prepared

log = structlog.get_logger(__name__)
_TELLING: set[asyncio.Future[None]] = set()


def tell(ctx: CallContext, event: Event) -> None:
    """Publish an audit event without making the station wait for the broker: what it was answered
    (station.boot_answered, station.authorize_answered) and a locally answered station.authorize. Queued now,
    so the events keep their order on the station's partition (and go to the spool like any other); a
    failure is logged (nothing is decided from these events' acknowledgement)."""
    future = asyncio.ensure_future(ctx.bus.publish_soon(event, station_id=ctx.station_id, message_id=ctx.message_id))
    _TELLING.add(future)
    future.add_done_callback(functools.partial(_told, event_type=event.TYPE))


def _told(future: asyncio.Future[None], *, event_type: str) -> None:
    _TELLING.discard(future)
    if not future.cancelled() and future.exception() is not None:
        log.warning("audit event not published", event_type=event_type, error=repr(future.exception()))


async def publish_and_ask(ctx: CallContext, event: Event | Prepared, request: Event) -> Event | None:
    """Publish the station's event and ask the auth service at the same time; None when auth was late."""
    stored = ctx.bus.publish_soon(event, station_id=ctx.station_id, message_id=ctx.message_id)
    try:
        return await ctx.bus.ask_auth(request, station_id=ctx.station_id, message_id=ctx.message_id)
    finally:
        await stored  # raises when the event could not be stored: the station gets an InternalError


async def publish_and_authorize(
    ctx: CallContext,
    event: Event | Prepared,
    id_token: IdToken,
    purpose: AuthorizationPurpose,
    fallback: str | None,
    *,
    evse_id: int | None = None,
    transaction_id: str | None = None,
) -> AuthorizationDecision | None:
    """The auth service's decision, or the fallback status (None: no decision to report) when it is late."""
    request = AuthorizationRequested(
        ocpp_version=ctx.ocpp_version,
        id_token=id_token,
        purpose=purpose,
        evse_id=evse_id,
        transaction_id=transaction_id,
    )
    answer = await publish_and_ask(ctx, event, request)
    if isinstance(answer, AuthorizationDecision):
        return answer
    return AuthorizationDecision(status=fallback) if fallback is not None else None


def with_driver(event: Event | Prepared, driver_id: str | None) -> Event | Prepared:
    """The transaction event naming the token's driver (ADR 0024), unchanged when there is none."""
    if driver_id is None:
        return event
    if isinstance(event, Prepared):
        return Prepared(event.model, {**event.payload, "driver_id": driver_id})
    return event.model_copy(update={"driver_id": driver_id})


async def publish_and_authorize_transaction(
    ctx: CallContext,
    event: Event | Prepared,
    id_token: IdToken,
    purpose: AuthorizationPurpose,
    fallback: str,
    *,
    evse_id: int | None,
    transaction_id: str,
) -> AuthorizationDecision:
    """Auth's decision on a transaction's token; the published event names the token's driver (ADR 0024).

    The decision itself always comes from auth (it counts sessions). The driver comes from the published
    decisions when they cover the token, so publishing and asking still overlap; otherwise the event waits for
    auth's answer (a token the table does not cover, offline uploads at start, local answers turned off).
    """
    known = ctx.decisions.decision(id_token.id_token, id_token.type, ctx.ocpp_version) if ctx.decisions else None
    if known is not None:
        decision = await publish_and_authorize(
            ctx, with_driver(event, known.driver_id), id_token, purpose, fallback,
            evse_id=evse_id, transaction_id=transaction_id,
        )  # fmt: skip
        assert decision is not None  # a fallback is given
        return decision
    request = AuthorizationRequested(
        ocpp_version=ctx.ocpp_version,
        id_token=id_token,
        purpose=purpose,
        evse_id=evse_id,
        transaction_id=transaction_id,
    )
    answer = await ctx.bus.ask_auth(request, station_id=ctx.station_id, message_id=ctx.message_id)
    decision = answer if isinstance(answer, AuthorizationDecision) else AuthorizationDecision(status=fallback)
    await ctx.bus.publish(with_driver(event, decision.driver_id), station_id=ctx.station_id, message_id=ctx.message_id)
    return decision


async def publish_refusal(
    ctx: CallContext,
    decision: AuthorizationDecision,
    id_token: IdToken,
    transaction_id: str,
    timestamp: datetime | str,
) -> None:
    """A transaction's token was refused: say so after the transaction's own event, so its session ends."""
    if decision.status == "Accepted":
        return
    refused = TransactionRefused(
        ocpp_version=ctx.ocpp_version,
        transaction_id=transaction_id,
        id_token=id_token,
        status=decision.status,
        timestamp=timestamp,
    )
    await ctx.bus.publish(refused, station_id=ctx.station_id, message_id=ctx.message_id)

"""From the session service's events to a hold at start, a running cost, and exactly one CDR at the end.

Dedupe is twofold: the inbox (by event id) and the unique session id of payments and CDRs, so a
session.ended delivered twice, or published twice with different event ids, prices and charges once.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from voltline_chassis import get_logger
from voltline_events import envelope_for, station_key
from voltline_events.payloads.billing import CdrCreated

from voltline_billing.domain import payments as pay
from voltline_billing.domain.adjustments import PlanDiscount
from voltline_billing.domain.cdr import Cdr
from voltline_billing.domain.money import round_half_up
from voltline_billing.domain.plans import discount_for, month_of
from voltline_billing.domain.priced import PricedSession
from voltline_billing.domain.pricing import price
from voltline_billing.domain.tariffs import Tariff
from voltline_billing.domain.usage import Period, Reading, Usage
from voltline_billing.service_layer.adhoc import guest_session_billed, guest_session_payment
from voltline_billing.service_layer.context import BillingContext, NotFound, new_id
from voltline_billing.service_layer.payments import drive
from voltline_billing.service_layer.tariffs import resolve
from voltline_billing.service_layer.unit_of_work import BillingUnitOfWork

log = get_logger(__name__)
CONSUMER = "billing-sessions"
_AFTER = itertools.count()  # distinct keys for a batch's after-commit work


@dataclass(frozen=True)
class Started:
    event_id: Any
    session_id: str
    station_id: str
    evse_id: int | None
    connector_id: int | None
    id_token: str | None
    driver_id: str | None
    started_at: datetime


@dataclass(frozen=True)
class Ended:
    event_id: Any
    started: Started
    ended_at: datetime
    energy_wh: int
    stop_reason: str | None
    periods: tuple[Period, ...]
    timeline: tuple[Reading, ...]
    revision: int = 1  # the session service republishes corrected sessions with a higher revision


async def _tariff_for(
    uow: BillingUnitOfWork, station_id: str, at: datetime, row: dict[str, Any] | None
) -> Tariff | None:
    if row is not None and row.get("tariff_id"):
        return await uow.tariffs.get(row["tariff_id"], row["tariff_version"])
    found = await resolve(uow, station_id, at)
    return found.tariff if found else None


async def _new_payment(ctx: BillingContext, uow: BillingUnitOfWork, s: Started, currency: str) -> pay.Payment:
    guest = await guest_session_payment(ctx, uow, s.session_id, s.id_token)  # a guest who paid on the QR page
    if guest is not None:
        return guest
    method = await uow.payments.default_method(s.driver_id) if s.driver_id else None
    kind: pay.Method = method["type"] if method else "none"
    payment = pay.start(new_id("pay"), s.session_id, s.driver_id, kind, method["method_id"] if method else None,
                        currency, ctx.config.card_hold_amount if kind == "card" else Decimal(0))  # fmt: skip
    await uow.payments.add(payment, ctx.provider.name if kind == "card" else None, ctx.clock())
    return payment


async def _claim(
    ctx: BillingContext, uow: BillingUnitOfWork, payment: pay.Payment, driver_id: str
) -> tuple[pay.Payment, dict[str, Any]]:
    """The driver became known after the start (a 2.x token sent after Started, ADR 0024): their default method
    pays, as if they had been known at the start (no hold: the amount is known now)."""
    method = await uow.payments.default_method(driver_id)
    if method is None:
        return payment, {}
    claimed = pay.assign(payment, driver_id, method["type"], method["method_id"])
    return claimed, {"provider": ctx.provider.name if method["type"] == "card" else None}


async def session_started(ctx: BillingContext, s: Started) -> None:
    async with ctx.uow() as uow:
        known = await uow.sessions.get(s.session_id) or await uow.cdrs.by_session(s.session_id)
        if not await uow.inbox.first_time(CONSUMER, s.event_id) or known:
            await uow.commit()  # a duplicate, or a start replayed after the session was already billed
            return
        tariff = await _tariff_for(uow, s.station_id, s.started_at, None)
        await uow.sessions.add(
            session_id=s.session_id, station_id=s.station_id, evse_id=s.evse_id, connector_id=s.connector_id,
            id_token=s.id_token, driver_id=s.driver_id, started_at=s.started_at, status="active", energy_wh=0,
            tariff_id=tariff.tariff_id if tariff else None, tariff_version=tariff.version if tariff else None,
        )  # fmt: skip
        payment = await uow.payments.by_session(s.session_id)
        if payment is None:
            payment = await _new_payment(ctx, uow, s, tariff.currency if tariff else ctx.config.default_currency)
        await uow.commit()
        if pay.next_action(payment) is None:
            return  # nothing for the provider (no card, a guest's hold already placed): drive() would only read
        payment_id = payment.payment_id
        if _after_commit(ctx, uow, payment_id, lambda: _drive_quietly(ctx, payment_id)):
            return
    await _drive_quietly(ctx, payment_id)


async def session_updated(
    ctx: BillingContext, session_id: str, energy_wh: int, power_w: float | None, at: datetime
) -> None:
    """Running state for the cost shown while charging; updates only move forward in time."""
    async with ctx.uow() as uow:
        row = await uow.sessions.get(session_id)
        if row is None or row["status"] != "active" or (row["last_at"] is not None and at <= row["last_at"]):
            return
        power = None if power_w is None else Decimal(str(power_w))
        await uow.sessions.update(session_id, energy_wh=max(energy_wh, row["energy_wh"]), power_w=power, last_at=at)
        await uow.commit()


async def session_ended(ctx: BillingContext, e: Ended) -> None:
    s = e.started
    async with ctx.uow() as uow:
        if not await uow.inbox.first_time(CONSUMER, e.event_id) or await uow.cdrs.by_session(s.session_id):
            await uow.commit()
            # A CDR is final once written; a later revision is for an operator to correct (refund, credit note).
            level = log.warning if e.revision > 1 else log.info
            level("session_already_billed", session_id=s.session_id, revision=e.revision)
            return
        row = await uow.sessions.get(s.session_id)
        tariff = await _tariff_for(uow, s.station_id, s.started_at, row)
        usage = Usage(s.started_at, e.ended_at, e.energy_wh, e.periods, e.timeline)
        subscription_id, plan = await _plan(uow, s.driver_id, s.started_at)
        priced = price(tariff, usage, plan) if tariff else _unpriced(ctx, usage)
        if subscription_id is not None and priced.included_wh_used:
            await uow.plans.add_usage(subscription_id, month_of(s.started_at), priced.included_wh_used)
        cdr = Cdr(new_id("cdr"), s.session_id, s.station_id, s.evse_id, s.connector_id, s.id_token, s.driver_id,
                  s.started_at, e.ended_at, e.stop_reason, priced, tariff.model_dump(mode="json") if tariff else None,
                  subscription_id, ctx.clock())  # fmt: skip
        await uow.cdrs.add(cdr)
        _announce(ctx, uow, cdr)
        if row is not None:
            await uow.sessions.update(s.session_id, status="ended", energy_wh=e.energy_wh, last_at=e.ended_at)
        payment = await uow.payments.by_session(s.session_id, lock=True)
        extra: dict[str, Any] = {}
        if payment is None:
            payment = await _new_payment(ctx, uow, s, priced.currency)
        elif payment.state is pay.State.UNASSIGNED and s.driver_id is not None:
            payment, extra = await _claim(ctx, uow, payment, s.driver_id)
        payment = pay.set_due(payment, priced.total_incl_vat)
        await uow.payments.save(payment, ctx.clock(), cdr_id=cdr.cdr_id, **extra)
        await uow.commit()
        guest = payment.driver_id is None and payment.method == "card"  # a guest's: receipt and token retired
        settle = _settle(ctx, payment.payment_id, s.session_id if guest else None)
        log.info("cdr_created", session_id=s.session_id, cdr_id=cdr.cdr_id, total=str(priced.total_incl_vat))
        if not guest and pay.next_action(payment) is None:
            return  # nothing to collect (no driver known, nothing owed): drive() would only read
        if _after_commit(ctx, uow, payment.payment_id, settle):
            return
    await settle()


def _settle(ctx: BillingContext, payment_id: str, guest_session: str | None) -> Callable[[], Awaitable[None]]:
    """What follows a committed CDR: the payment driven at the provider, then a guest's receipt."""

    async def settle() -> None:
        await _drive_quietly(ctx, payment_id)
        if guest_session is not None:
            try:
                await guest_session_billed(ctx, guest_session)
            except Exception as exc:
                log.warning("adhoc_receipt_failed", session_id=guest_session, error=repr(exc))

    return settle


def _after_commit(
    ctx: BillingContext, uow: BillingUnitOfWork, payment_id: str, work: Callable[[], Awaitable[None]]
) -> bool:
    """Inside a consumer's batch, `work` (provider calls) runs once the batch has committed, in the background
    in order per payment (service_layer/later.py), never inside the transaction; True if so. False: run it now."""
    later = ctx.later
    if later is None:
        return False
    return uow.after_batch(f"pay:{next(_AFTER)}", lambda: later.submit(payment_id, work))


def _announce(ctx: BillingContext, uow: BillingUnitOfWork, cdr: Cdr) -> None:
    p = cdr.priced
    created = CdrCreated(
        cdr_id=cdr.cdr_id, session_id=cdr.session_id, station_id=cdr.station_id, driver_id=cdr.driver_id,
        started_at=cdr.started_at, ended_at=cdr.ended_at, currency=p.currency, energy_kwh=cdr.energy_kwh,
        total_excl_vat=p.total_excl_vat, total_vat=p.total_vat, total_incl_vat=p.total_incl_vat,
    )  # fmt: skip
    envelope = envelope_for(created, source=ctx.source, station_id=cdr.station_id, session_id=cdr.session_id)
    uow.outbox.add(ctx.topics.billing, envelope, key=station_key(cdr.station_id))


async def _plan(uow: BillingUnitOfWork, driver_id: str | None, at: datetime) -> tuple[str | None, PlanDiscount | None]:
    if driver_id is None:
        return None, None
    subscription = await uow.plans.active_at(driver_id, at)
    if subscription is None:
        return None, None
    plan = await uow.plans.plan(subscription.plan_id)
    if plan is None:
        return None, None
    used = await uow.plans.usage_for_update(subscription.subscription_id, month_of(at))
    return subscription.subscription_id, discount_for(plan, used)


def _unpriced(ctx: BillingContext, usage: Usage) -> PricedSession:
    """No tariff applies: the CDR is still written (nothing is lost), at zero, with no tariff named."""
    from voltline_billing.domain.usage import Timeline

    tl = Timeline.of(usage)
    zero = Decimal(0)
    log.warning("session_without_tariff", started_at=usage.started_at.isoformat())
    seconds = int(round_half_up(tl.total_s))
    currency = ctx.config.default_currency
    return PricedSession("", 0, currency, (), (), zero, zero, zero, usage.energy_wh, seconds, seconds, 0)


async def _drive_quietly(ctx: BillingContext, payment_id: str) -> None:
    """The CDR is committed whatever the provider does; a failure here is left to the payment worker."""
    try:
        await drive(ctx, payment_id)
    except Exception as exc:
        log.warning("payment_not_driven", payment_id=payment_id, error=repr(exc))


async def running_cost(ctx: BillingContext, session_id: str) -> tuple[dict[str, Any], PricedSession | None]:
    """The cost so far of an active session (energy of its last update, time until now)."""
    async with ctx.uow() as uow:
        row = await uow.sessions.get(session_id)
        cdr = await uow.cdrs.by_session(session_id)
        if cdr is not None:
            return {
                "session_id": session_id,
                "status": "ended",
                "as_of": cdr.ended_at,
                "cdr_id": cdr.cdr_id,
            }, cdr.priced
        if row is None:
            raise NotFound(f"billing has seen no session {session_id!r}")
        tariff = await _tariff_for(uow, row["station_id"], row["started_at"], row)
        now = max(ctx.clock(), row["started_at"])
        plan = None
        if row["driver_id"]:
            subscription = await uow.plans.active_at(row["driver_id"], row["started_at"])
            found = await uow.plans.plan(subscription.plan_id) if subscription else None
            plan = discount_for(found, 0) if found else None
    info = {"session_id": session_id, "status": "active", "as_of": now, "cdr_id": None}
    if tariff is None:
        return info, None
    readings = (Reading(row["last_at"], row["energy_wh"]),) if row["last_at"] else ()
    return info, price(tariff, Usage(row["started_at"], now, row["energy_wh"], timeline=readings), plan)

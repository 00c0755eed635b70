"""Ad-hoc payment by a guest at a charger (EU AFIR): the price, a hold on the card, a remote start for a
one-time token, then the session's own payment captures the CDR total and releases the rest.

Each step is recorded before the next call goes out (hold, token, start), in short transactions, so a
double submit of the page holds once (the key is the page's id) and a crash leaves a state the guest can
submit again. The start goes through the auth and session services' APIs like every other remote start.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from voltline_chassis import get_logger

from voltline_billing.domain import adhoc as dom
from voltline_billing.domain.adhoc import AdhocError, AdhocState, GuestPayment
from voltline_billing.domain.cdr import Cdr
from voltline_billing.domain.money import Money
from voltline_billing.domain.payments import Outcome, Payment
from voltline_billing.domain.tariffs import Tariff
from voltline_billing.service_layer.context import AdhocPorts, BillingContext, Conflict, Invalid, NotFound, new_id
from voltline_billing.service_layer.ports import Duplicate, ProviderTimeout, StartRefused
from voltline_billing.service_layer.tariffs import ad_hoc_prices, resolve
from voltline_billing.service_layer.unit_of_work import BillingUnitOfWork

log = get_logger(__name__)


@dataclass(frozen=True)
class Offer:
    """What the payment page shows before the guest pays."""

    station_id: str
    evse_id: int
    tariff: Tariff
    prices: dict[str, Decimal | None]
    hold: Money


@dataclass(frozen=True)
class GuestView:
    """What the status page shows: the guest payment, and once known the session's payment and CDR."""

    guest: GuestPayment
    energy_wh: int | None
    cdr: Cdr | None
    payment: Payment | None

    @property
    def released(self) -> Decimal | None:
        """What went back to the card: the hold less what was captured, once the payment is settled."""
        p = self.payment
        if p is None or p.state.value not in ("paid", "released"):
            return None
        hold = self.guest.hold_amount
        return hold - p.captured if p.captured <= hold else hold  # above the hold: all released, then a sale


def ports(ctx: BillingContext) -> AdhocPorts:
    if ctx.adhoc is None:
        raise NotFound("ad-hoc payment is not enabled on this billing service")
    return ctx.adhoc


async def offer(ctx: BillingContext, station_id: str, evse_id: int) -> Offer:
    found = None
    async with ctx.uow() as uow:
        found = await resolve(uow, station_id, ctx.clock())
    if found is None:
        raise NotFound(f"no price is set for charger {station_id}: it cannot be paid for here")
    tariff = found.tariff
    hold = dom.hold_amount(tariff.currency, ports(ctx).hold_amounts, ctx.config.card_hold_amount)
    return Offer(station_id, evse_id, tariff, ad_hoc_prices(tariff), hold)


async def pay(ctx: BillingContext, adhoc_id: str, station_id: str, evse_id: int, card_token: str,
              card_label: str | None, email: str | None) -> GuestPayment:  # fmt: skip
    """Hold, token, start. Submitting the same page again continues where it stopped (same keys)."""
    try:
        dom.check_adhoc_id(adhoc_id)
    except AdhocError as exc:
        raise Invalid("adhoc_id", str(exc)) from None
    starts = ports(ctx).starts
    async with ctx.uow() as uow:
        guest = await uow.adhoc.get(adhoc_id)
        busy = guest is None and await uow.adhoc.evse_busy(station_id, evse_id)
    if guest is None:
        priced = await offer(ctx, station_id, evse_id)
        if busy:
            raise Conflict("This charger is in use right now. Nothing was charged.")
        if await starts.is_online(station_id) is False:
            raise Conflict("This charger is offline right now. Nothing was charged.")
        try:
            guest = dom.begin(adhoc_id, station_id, evse_id, priced.hold, dom.guest_token(secrets.token_hex(8)),
                              card_token, card_label, email, ctx.clock())  # fmt: skip
        except AdhocError as exc:
            raise Invalid("card_token", str(exc)) from None
        try:
            async with ctx.uow() as uow:
                await uow.adhoc.add(guest)
                await uow.commit()
        except Duplicate:  # the same page submitted twice at once: the first one goes on
            guest = await status_of(ctx, adhoc_id)
    if guest.state is not AdhocState.HOLDING:
        return guest  # already held (and started, or refused): the page shows where it is
    outcome = await _authorize(ctx, guest)
    async with ctx.uow() as uow:
        current = await uow.adhoc.get(adhoc_id, lock=True)
        assert current is not None
        guest = dom.after_hold(current, outcome)
        await uow.adhoc.save(guest, ctx.clock())
        await uow.commit()
    log.info("adhoc_hold", adhoc_id=adhoc_id, outcome=outcome.kind, state=guest.state)
    if guest.state is not AdhocState.STARTING:
        return guest
    try:
        await starts.create_token(guest.id_token)
        await starts.remote_start(guest.station_id, guest.evse_id, guest.id_token)
    except StartRefused as exc:
        log.info("adhoc_start_refused", adhoc_id=adhoc_id, code=exc.code, detail=exc.detail)
        return await _refused(ctx, adhoc_id, exc.code, exc.detail)
    return await status_of(ctx, adhoc_id)


async def _authorize(ctx: BillingContext, guest: GuestPayment) -> Outcome:
    call = ctx.provider.authorize(token=guest.card_token, amount=guest.hold, key=guest.hold_key,
                                  reference=guest.adhoc_id)  # fmt: skip
    try:
        return await asyncio.wait_for(call, ctx.config.provider_timeout_s)
    except (ProviderTimeout, TimeoutError) as exc:
        return Outcome("timeout", message=str(exc) or None)
    except Exception as exc:  # outcome unknown: the guest submits again, same key
        log.warning("adhoc_provider_error", adhoc_id=guest.adhoc_id, error=repr(exc))
        return Outcome("timeout")


async def _refused(ctx: BillingContext, adhoc_id: str, code: str | None, detail: str | None) -> GuestPayment:
    async with ctx.uow() as uow:
        current = await uow.adhoc.get(adhoc_id, lock=True)
        assert current is not None
        guest = dom.start_refused(current, code, detail)
        await uow.adhoc.save(guest, ctx.clock())
        await uow.commit()
    if guest.state is AdhocState.START_FAILED and guest.provider_ref:
        try:
            outcome = await asyncio.wait_for(
                ctx.provider.release(ref=guest.provider_ref, key=guest.release_key), ctx.config.provider_timeout_s
            )
            log.info("adhoc_hold_released", adhoc_id=adhoc_id, outcome=outcome.kind)
        except Exception as exc:  # the hold expires at the provider anyway
            log.warning("adhoc_release_failed", adhoc_id=adhoc_id, error=repr(exc))
    return guest


async def release_unstarted(ctx: BillingContext, older_than_s: float) -> int:
    """The payment worker: a charger that accepted the start but never began charging (the car was not plugged
    in) gives the guest's hold back. A session that starts later still asks for a hold of its own."""
    async with ctx.uow() as uow:
        ids = await uow.adhoc.starting_before(ctx.clock() - timedelta(seconds=older_than_s))
    for adhoc_id in ids:
        await _refused(ctx, adhoc_id, "not_started", None)
    return len(ids)


async def status_of(ctx: BillingContext, adhoc_id: str) -> GuestPayment:
    async with ctx.uow() as uow:
        guest = await uow.adhoc.get(adhoc_id)
    if guest is None:
        raise NotFound("no such payment")
    return guest


async def view(ctx: BillingContext, adhoc_id: str) -> GuestView:
    async with ctx.uow() as uow:
        guest = await uow.adhoc.get(adhoc_id)
        if guest is None:
            raise NotFound("no such payment")
        energy, cdr, payment = None, None, None
        if guest.session_id is not None:
            row = await uow.sessions.get(guest.session_id)
            cdr = await uow.cdrs.by_session(guest.session_id)
            payment = await uow.payments.by_session(guest.session_id)
            energy = cdr.priced.energy_wh if cdr else (row["energy_wh"] if row else None)
    return GuestView(guest, energy, cdr, payment)


# -- hooks of the session consumer (service_layer/sessions.py)


async def guest_session_payment(
    ctx: BillingContext, uow: BillingUnitOfWork, session_id: str, id_token: str | None
) -> Payment | None:
    """The payment of a session started for a guest's token: it takes the guest's hold over."""
    if not id_token or not id_token.startswith(dom.GUEST_TOKEN_PREFIX):
        return None
    guest = await uow.adhoc.by_token(id_token, lock=True)
    if guest is None or guest.session_id not in (None, session_id):
        return None
    payment = dom.session_payment(guest, new_id("pay"), session_id)
    now = ctx.clock()
    await uow.adhoc.save(dom.linked(guest, session_id), now)
    await uow.payments.add(payment, ctx.provider.name, now)
    log.info("adhoc_session_linked", adhoc_id=guest.adhoc_id, session_id=session_id, state=payment.state)
    return payment


async def guest_session_billed(ctx: BillingContext, session_id: str) -> None:
    """After the CDR and its capture: the guest's token is retired and the receipt mailed (once)."""
    async with ctx.uow() as uow:
        guest = await uow.adhoc.by_session(session_id)
        if guest is None:
            return
        await uow.adhoc.save(dom.ended(guest), ctx.clock())
        first = bool(guest.email) and await uow.adhoc.mark_receipt_sent(guest.adhoc_id, ctx.clock())
        cdr = await uow.cdrs.by_session(session_id)
        payment = await uow.payments.by_session(session_id)
        await uow.commit()
    if ctx.adhoc is None:
        return
    try:
        await ctx.adhoc.starts.retire_token(guest.id_token)
    except Exception as exc:  # the token only ever started this session
        log.warning("adhoc_token_not_retired", adhoc_id=guest.adhoc_id, error=repr(exc))
    if first and guest.email and cdr is not None:
        view_ = GuestView(dom.ended(guest), cdr.priced.energy_wh, cdr, payment)
        await ctx.adhoc.mailer.send(guest.email, f"Your charging receipt {cdr.cdr_id}", receipt_text(view_))


def receipt_text(v: GuestView) -> str:
    assert v.cdr is not None
    p, c = v.cdr.priced, v.cdr
    lines = [
        f"Receipt {c.cdr_id}",
        f"Charger {c.station_id}, EVSE {c.evse_id}",
        f"From {c.started_at.isoformat()} to {c.ended_at.isoformat()}",
        f"Energy: {Decimal(p.energy_wh) / 1000} kWh",
        *(f"{line.description}: {Money(line.amount, p.currency)}" for line in p.lines),
        f"Total excl. VAT: {Money(p.total_excl_vat, p.currency)}",
        f"VAT: {Money(p.total_vat, p.currency)}",
        f"Total: {Money(p.total_incl_vat, p.currency)}",
    ]
    card = f"card {v.guest.card_label}" if v.guest.card_label else "your card"
    if v.payment is not None and v.payment.state.value == "paid":
        lines.append(f"Charged to {card}: {Money(v.payment.captured, p.currency)}")
    elif p.total_incl_vat > 0:
        lines.append(f"To be charged to {card}: {Money(p.total_incl_vat, p.currency)}")
    if v.released is not None:
        lines.append(f"Released from the pre-authorisation: {Money(v.released, p.currency)}")
    return "\n".join(lines) + "\n"

"""Collecting a session's payment: each step is recorded before the provider is called and its outcome
after, in short transactions, so a crash or a timeout leaves a state that is retried with the same
idempotency key and nothing is ever charged twice."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

from voltline_chassis import get_logger

from voltline_billing.domain import ledger
from voltline_billing.domain import payments as pay
from voltline_billing.domain.money import Money
from voltline_billing.domain.payments import Action, Outcome, Payment, State
from voltline_billing.service_layer.context import BillingContext, Invalid, NotFound
from voltline_billing.service_layer.ports import ProviderTimeout
from voltline_billing.service_layer.unit_of_work import BillingUnitOfWork

log = get_logger(__name__)
_MAX_STEPS = 6  # a payment needs at most authorize, release, sale... per drive


async def drive(ctx: BillingContext, payment_id: str) -> Payment | None:
    """Push a payment as far as it can go now. Safe to run concurrently and repeatedly."""
    payment = None
    for _ in range(_MAX_STEPS):
        async with ctx.uow() as uow:
            payment = await uow.payments.get(payment_id, lock=True)
            if payment is None:
                return None
            action = pay.next_action(payment)
            if action is None:
                return payment
            if action.kind in ("wallet_charge", "invoice"):
                outcome = await _settle_locally(ctx, uow, payment, action)
                payment = await _record(ctx, uow, payment, action, outcome)
                await uow.commit()
                continue
            token = await _token(uow, payment)
            in_flight = pay.begin(payment, action)
            await uow.payments.save(in_flight, ctx.clock())
            await uow.commit()
        outcome = await _call_provider(ctx, in_flight, action, token)
        async with ctx.uow() as uow:
            current = await uow.payments.get(payment_id, lock=True)
            assert current is not None
            if current.state is not in_flight.state or pay.next_action(current) != action:
                return current  # someone else recorded this step meanwhile (same key, same result)
            payment = await _record(ctx, uow, current, action, outcome)
            await uow.commit()
        if outcome.kind == "timeout":
            return payment  # retried later (worker or operator), with the same key
    return payment


async def _token(uow: BillingUnitOfWork, payment: Payment) -> str:
    method = await uow.payments.method(payment.method_id) if payment.method_id else None
    if method is None and payment.driver_id is None:  # a guest's card, entered on the payment page
        guest = await uow.adhoc.by_session(payment.session_id)
        return guest.card_token if guest else ""
    return (method or {}).get("token") or ""


async def _call_provider(ctx: BillingContext, payment: Payment, action: Action, token: str) -> Outcome:
    provider, amount = ctx.provider, Money(action.amount, payment.currency)
    ref, key = payment.provider_ref or "", action.idempotency_key
    try:
        call: Callable[[], Awaitable[Outcome]] = {
            "authorize": lambda: provider.authorize(token=token, amount=amount, key=key, reference=payment.session_id),
            "capture": lambda: provider.capture(ref=ref, amount=amount, key=key),
            "release": lambda: provider.release(ref=ref, key=key),
            "sale": lambda: provider.sale(token=token, amount=amount, key=key, reference=payment.session_id),
        }[action.kind]
        return await asyncio.wait_for(call(), ctx.config.provider_timeout_s)
    except (ProviderTimeout, TimeoutError) as exc:
        return Outcome("timeout", message=str(exc) or "the payment provider did not answer in time")
    except Exception as exc:  # an unknown outcome: treat like a timeout, retried with the same key
        log.warning("payment_provider_error", payment_id=payment.payment_id, action=action.kind, error=repr(exc))
        return Outcome("timeout", message=f"payment provider error: {type(exc).__name__}")


async def _settle_locally(ctx: BillingContext, uow: BillingUnitOfWork, p: Payment, action: Action) -> Outcome:
    if action.kind == "invoice":
        return Outcome("ok")
    assert p.driver_id is not None
    account = ledger.wallet_account(p.driver_id)
    if await uow.ledger.has_entry(action.idempotency_key):
        return Outcome("ok")
    row = await uow.ledger.account(account, lock=True)
    if row is None:
        return Outcome("insufficient_funds", message=f"driver {p.driver_id} has no wallet; top it up first")
    if row["currency"] != p.currency:
        return Outcome("failed", message=f"the wallet is in {row['currency']}, the session in {p.currency}")
    balance = ledger.wallet_balance(row["balance"])
    try:
        entry = ledger.charge(p.driver_id, action.amount, p.currency, action.idempotency_key, balance,
                              row["credit_limit"])  # fmt: skip
    except ledger.InsufficientFunds as exc:
        return Outcome("insufficient_funds", message=str(exc))
    entry_id = await uow.ledger.post(entry, ctx.clock())
    return Outcome("ok", provider_ref=entry_id)


async def _record(ctx: BillingContext, uow: BillingUnitOfWork, p: Payment, action: Action, outcome: Outcome) -> Payment:
    now = ctx.clock()
    await uow.payments.log(p.payment_id, action, outcome, now)
    updated = pay.after(p, action, outcome)
    await uow.payments.save(updated, now)
    log.info("payment_step", payment_id=p.payment_id, action=action.kind, outcome=outcome.kind, state=updated.state)
    return updated


async def retry(ctx: BillingContext, payment_id: str) -> Payment:
    async with ctx.uow() as uow:
        payment = await uow.payments.get(payment_id, lock=True)
        if payment is None:
            raise NotFound(f"no payment {payment_id!r}")
        try:
            payment = pay.retry(payment)
        except pay.PaymentError as exc:
            raise Invalid("payment_id", str(exc)) from None
        extra = {}
        method = await uow.payments.default_method(payment.driver_id) if payment.driver_id else None
        if payment.state is State.DUE and method is not None:  # the driver may have added a new card meanwhile
            payment = replace(payment, method=method["type"], method_id=method["method_id"])
            extra["provider"] = ctx.provider.name if method["type"] == "card" else None
        await uow.payments.save(payment, ctx.clock(), **extra)
        await uow.commit()
    return await drive(ctx, payment_id) or payment


async def assign(ctx: BillingContext, payment_id: str, driver_id: str) -> Payment:
    """Give an unassigned session (unknown token) to a driver; it is then collected with their method."""
    async with ctx.uow() as uow:
        payment = await uow.payments.get(payment_id, lock=True)
        if payment is None:
            raise NotFound(f"no payment {payment_id!r}")
        method = await uow.payments.default_method(driver_id)
        kind: pay.Method = method["type"] if method else "none"
        if kind == "none":
            raise Invalid("driver_id", f"driver {driver_id} has no payment method; add one first")
        try:
            payment = pay.assign(payment, driver_id, kind, method["method_id"] if method else None)
        except pay.PaymentError as exc:
            raise Invalid("payment_id", str(exc)) from None
        await uow.payments.save(payment, ctx.clock(), provider=ctx.provider.name if kind == "card" else None)
        await uow.cdrs.set_driver(payment.session_id, driver_id)  # the CDR is the driver's too (/me/cdrs)
        await uow.commit()
    return await drive(ctx, payment_id) or payment


async def drive_pending(ctx: BillingContext, limit: int = 100) -> int:
    """One pass of the payment worker: everything in flight or due, then pending refunds."""
    from voltline_billing.service_layer.refunds import drive_refund

    async with ctx.uow() as uow:
        ids = await uow.payments.actionable(limit)
        refund_ids = [r["refund_id"] for r in await uow.payments.refunds(state="pending")]
    for payment_id in ids:
        await drive(ctx, payment_id)
    for refund_id in refund_ids:
        await drive_refund(ctx, refund_id)
    return len(ids) + len(refund_ids)


async def retry_failed_wallet_payments(ctx: BillingContext, driver_id: str) -> int:
    async with ctx.uow() as uow:
        rows = await uow.payments.rows(driver_id=driver_id, method="wallet", state=State.FAILED.value)
    for row in rows:
        await retry(ctx, row["payment_id"])
    return len(rows)

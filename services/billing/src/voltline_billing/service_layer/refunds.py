"""Refunds of paid sessions: through the card provider, or back into the wallet (a ledger entry).

A refund is recorded as pending before anything is sent; its idempotency key is its own id, so a
timeout is retried without ever refunding twice. Postpaid sessions are corrected by a credit note.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal
from typing import Any

from voltline_events import envelope_for, station_key
from voltline_events.payloads import RefundIssued

from voltline_billing.domain import ledger
from voltline_billing.domain import payments as pay
from voltline_billing.domain.money import Money, round_money
from voltline_billing.domain.payments import Outcome
from voltline_billing.service_layer.context import BillingContext, Invalid, NotFound, new_id
from voltline_billing.service_layer.ports import ProviderTimeout


async def request_refund(
    ctx: BillingContext, payment_id: str, amount: Decimal | None, reason: str | None
) -> dict[str, Any]:
    now = ctx.clock()
    async with ctx.uow() as uow:
        payment = await uow.payments.get(payment_id, lock=True)
        if payment is None:
            raise NotFound(f"no payment {payment_id!r}")
        if payment.method == "postpaid":
            raise Invalid("payment_id", "postpaid sessions are corrected by a credit note on their invoice")
        pending = await uow.payments.pending_refund_total(payment_id)
        value = round_money(amount, payment.currency) if amount is not None else payment.refundable - pending
        try:
            pay.check_refund(replace(payment, refunded=payment.refunded + pending), value)
        except pay.PaymentError as exc:
            raise Invalid("amount", str(exc)) from None
        refund_id = new_id("rf")
        await uow.payments.add_refund(
            refund_id=refund_id, payment_id=payment_id, amount=value, currency=payment.currency, reason=reason,
            state="pending", idempotency_key=f"{payment.session_id}:refund:{refund_id}", created_at=now, updated_at=now,
        )  # fmt: skip
        await uow.commit()
    return await drive_refund(ctx, refund_id)


async def drive_refund(ctx: BillingContext, refund_id: str) -> dict[str, Any]:
    async with ctx.uow() as uow:
        refund = await uow.payments.refund(refund_id)
        if refund is None:
            raise NotFound(f"no refund {refund_id!r}")
        payment = await uow.payments.get(refund["payment_id"])
        assert payment is not None
        if refund["state"] != "pending":
            return refund
        if payment.method == "wallet":
            assert payment.driver_id is not None
            if not await uow.ledger.has_entry(refund["idempotency_key"]):
                entry = ledger.refund(payment.driver_id, refund["amount"], payment.currency, refund["idempotency_key"])
                await uow.ledger.post(entry, ctx.clock())
            return await _finish(ctx, uow, refund_id, Outcome("ok"))
    outcome = await _provider_refund(ctx, payment.provider_ref or "", Money(refund["amount"], payment.currency),
                                     refund["idempotency_key"])  # fmt: skip
    async with ctx.uow() as uow:
        return await _finish(ctx, uow, refund_id, outcome)


async def _provider_refund(ctx: BillingContext, ref: str, amount: Money, key: str) -> Outcome:
    try:
        return await asyncio.wait_for(
            ctx.provider.refund(ref=ref, amount=amount, key=key), ctx.config.provider_timeout_s
        )
    except (ProviderTimeout, TimeoutError) as exc:
        return Outcome("timeout", message=str(exc) or "the payment provider did not answer in time")
    except Exception as exc:
        return Outcome("timeout", message=f"payment provider error: {type(exc).__name__}")


async def _announce(ctx: BillingContext, uow: Any, refund: dict[str, Any], payment: Any, now: Any) -> None:
    """Publish the refund (through the outbox, in the refund's transaction) so analytics can correct revenue."""
    cdr = await uow.cdrs.by_session(payment.session_id)
    if cdr is None:
        return
    p, amount = cdr.priced, refund["amount"]
    excl = round_money(amount * p.total_excl_vat / p.total_incl_vat, p.currency) if p.total_incl_vat else amount
    issued = RefundIssued(
        refund_id=refund["refund_id"], payment_id=payment.payment_id, session_id=payment.session_id,
        station_id=cdr.station_id, cdr_id=cdr.cdr_id, session_started_at=cdr.started_at, refunded_at=now,
        currency=payment.currency, amount_incl_vat=amount, amount_excl_vat=excl, reason=refund.get("reason"),
    )  # fmt: skip
    envelope = envelope_for(issued, source=ctx.source, station_id=cdr.station_id, session_id=payment.session_id)
    uow.outbox.add(ctx.topics.billing, envelope, key=station_key(cdr.station_id))


async def _finish(ctx: BillingContext, uow: Any, refund_id: str, outcome: Outcome) -> dict[str, Any]:
    refund = await uow.payments.refund(refund_id, lock=True)
    if refund["state"] == "pending":
        now = ctx.clock()
        if outcome.kind == "ok":
            payment = await uow.payments.get(refund["payment_id"], lock=True)
            await uow.payments.save(replace(payment, refunded=payment.refunded + refund["amount"]), now)
            await uow.payments.save_refund(refund_id, state="succeeded", provider_ref=outcome.provider_ref,
                                           last_error=None, updated_at=now)  # fmt: skip
            await _announce(ctx, uow, refund, payment, now)
        elif outcome.kind == "timeout":
            await uow.payments.save_refund(refund_id, last_error=outcome.message, updated_at=now)
        else:
            await uow.payments.save_refund(refund_id, state="failed", last_error=outcome.message or outcome.kind,
                                           updated_at=now)  # fmt: skip
        await uow.commit()
    result: dict[str, Any] | None = await uow.payments.refund(refund_id)
    assert result is not None
    return result

"""Monthly invoices (postpaid sessions and plan fees) and credit notes, numbered without gaps.

Each document is numbered and written in one transaction, under a lock on its series' counter: a
rolled-back issue gives its number back, so the sequence never has a hole. Issued documents are never
updated; only their payment status (open/paid) changes.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from voltline_billing.domain import invoices as inv
from voltline_billing.domain.plans import month_bounds
from voltline_billing.service_layer.context import BillingContext, Invalid, NotFound, new_id
from voltline_billing.service_layer.ports import Duplicate
from voltline_billing.service_layer.unit_of_work import BillingUnitOfWork


def _period(period: str) -> tuple[datetime, datetime]:
    try:
        return month_bounds(period)
    except ValueError as exc:
        raise Invalid("period", str(exc)) from None


async def run_month(ctx: BillingContext, period: str) -> list[dict[str, Any]]:
    """Issue the invoices of a month for every driver who owes something in it. Running it again only
    issues what is missing."""
    _, end = _period(period)
    async with ctx.uow() as uow:
        debtors = set(await uow.payments.postpaid_drivers(end))
        for sub in await uow.plans.subscriptions():
            plan = await uow.plans.plan(sub.plan_id)
            if plan and plan.monthly_fee > 0 and sub.billed_months(period):
                if not await uow.plans.fee_invoiced(sub.subscription_id, period):
                    debtors.add((sub.driver_id, plan.currency))
    issued = []
    for driver_id, currency in sorted(debtors):
        try:
            document = await _issue_for(ctx, driver_id, currency, period, end)
        except Duplicate:
            continue  # a concurrent run issued it first (its number was given back by our rollback)
        if document is not None:
            issued.append(document)
    return issued


async def _issue_for(
    ctx: BillingContext, driver_id: str, currency: str, period: str, end: datetime
) -> dict[str, Any] | None:
    async with ctx.uow() as uow:
        if await uow.invoices.exists("invoice", driver_id, period, currency):
            return None
        lines: list[inv.InvoiceLine] = []
        due = await uow.payments.postpaid_due(driver_id, currency, end)
        for item in due:
            cdr = await uow.cdrs.get(item["cdr_id"])
            assert cdr is not None
            p = cdr.priced
            no_vat = sum((line.amount for line in p.lines if line.vat_percent is None), Decimal(0))
            label = f"Charging session {cdr.session_id} at {cdr.station_id}, {cdr.started_at:%Y-%m-%d %H:%M} UTC"
            lines += inv.session_lines(cdr.cdr_id, label, no_vat, p.vat)
        fees = []
        for sub in await uow.plans.subscriptions(driver_id):
            plan = await uow.plans.plan(sub.plan_id)
            if plan is None or plan.currency != currency or plan.monthly_fee <= 0 or not sub.billed_months(period):
                continue
            if await uow.plans.fee_invoiced(sub.subscription_id, period):
                continue
            fees.append(sub.subscription_id)
            lines.append(inv.fee_line(f"{sub.subscription_id}:{period}", f"Plan {plan.name}, {period}",
                                      plan.monthly_fee, plan.vat_percent, currency))  # fmt: skip
        if not lines:
            return None
        invoice_id = new_id("inv")
        document = await _write(ctx, uow, "invoice", invoice_id, driver_id, currency, lines, period=period)
        await uow.payments.mark_invoiced([item["payment_id"] for item in due], invoice_id)
        for subscription_id in fees:
            await uow.plans.mark_fee_invoiced(subscription_id, period, invoice_id)
        await uow.commit()
    return document


async def _write(
    ctx: BillingContext, uow: BillingUnitOfWork, kind: inv.DocumentKind, invoice_id: str, driver_id: str,
    currency: str, lines: list[inv.InvoiceLine], *, period: str | None = None, corrects: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    now = ctx.clock()
    number = inv.document_number(kind, now.year, await uow.invoices.next_number(inv.series(kind, now.year)))
    total = inv.totals(lines)
    values = {
        "invoice_id": invoice_id, "kind": kind, "number": number, "driver_id": driver_id, "period": period,
        "currency": currency, "lines": [line.to_json(currency) for line in lines],
        "total_excl_vat": total.excl_vat, "total_vat": total.vat, "total_incl_vat": total.incl_vat,
        "corrects": corrects, "reason": reason, "issued_at": now, "payment_status": "open",
    }  # fmt: skip
    await uow.invoices.add(**values)
    return values


async def credit_note(
    ctx: BillingContext, invoice_id: str, reason: str, amounts: dict[int, Decimal] | None
) -> dict[str, Any]:
    async with ctx.uow() as uow:
        invoice = await uow.invoices.get(invoice_id, lock=True)
        if invoice is None or invoice["kind"] != "invoice":
            raise NotFound(f"no invoice {invoice_id!r}")
        lines = tuple(inv.InvoiceLine.from_json(line) for line in invoice["lines"])
        notes = await uow.invoices.list(corrects=invoice_id, kind="credit_note", limit=1000)
        credited = inv.credited_by_line([tuple(inv.InvoiceLine.from_json(x) for x in n["lines"]) for n in notes])
        try:
            credit = inv.credit_lines(lines, credited, amounts, invoice["currency"])
        except inv.InvoiceError as exc:
            raise Invalid("lines", str(exc)) from None
        document = await _write(ctx, uow, "credit_note", new_id("cn"), invoice["driver_id"], invoice["currency"],
                                credit, corrects=invoice_id, reason=reason)  # fmt: skip
        await uow.commit()
    return document


async def get(ctx: BillingContext, invoice_id: str) -> dict[str, Any]:
    async with ctx.uow() as uow:
        invoice = await uow.invoices.get(invoice_id)
    if invoice is None:
        raise NotFound(f"no invoice or credit note {invoice_id!r}")
    return invoice


async def list_documents(ctx: BillingContext, limit: int, offset: int, **filters: str | None) -> list[dict[str, Any]]:
    async with ctx.uow() as uow:
        return await uow.invoices.list(limit=limit, offset=offset, **filters)


async def mark_paid(ctx: BillingContext, invoice_id: str) -> dict[str, Any]:
    async with ctx.uow() as uow:
        invoice = await uow.invoices.get(invoice_id, lock=True)
        if invoice is None:
            raise NotFound(f"no invoice {invoice_id!r}")
        await uow.invoices.set_payment_status(invoice_id, "paid")
        await uow.commit()
    return await get(ctx, invoice_id)

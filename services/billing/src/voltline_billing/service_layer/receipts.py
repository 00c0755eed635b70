"""A driver's own CDRs, receipts and invoices (the drivers' app, docs/drivers.md "Receipts and payment").

Whose: a CDR or invoice whose `driver_id` is the signed-in driver. Anything else is NotFound, worded like a
missing one, so a driver learns nothing of other drivers' ids.

A receipt is issued the first time it is asked for: its number is taken from the year's `RCT-<year>` series
under the counter's row lock, in the transaction that records it, so a failed issue gives the number back
(no gap) and a CDR never gets two numbers (cdr_id is the receipts' key; a concurrent first issue loses with
Duplicate and reads the winner's).
"""

from __future__ import annotations

from typing import Any

from voltline_billing.domain import receipts as rc
from voltline_billing.domain.cdr import Cdr
from voltline_billing.domain.money import fmt
from voltline_billing.service_layer.context import BillingContext, NotFound
from voltline_billing.service_layer.ports import Duplicate


async def my_cdrs(ctx: BillingContext, driver_id: str, limit: int, offset: int) -> list[tuple[Cdr, str | None]]:
    async with ctx.uow() as uow:
        return await uow.cdrs.list(driver_id=driver_id, limit=limit, offset=offset)


async def my_cdr(ctx: BillingContext, driver_id: str, cdr_id: str) -> tuple[Cdr, str | None]:
    async with ctx.uow() as uow:
        cdr = await uow.cdrs.get(cdr_id)
        if cdr is None or cdr.driver_id != driver_id:
            raise NotFound(f"you have no charge detail record {cdr_id!r}")
        payment = await uow.payments.by_session(cdr.session_id)
    return cdr, payment.state.value if payment else None


async def _issue(ctx: BillingContext, cdr: Cdr, driver_id: str) -> rc.IssuedReceipt:
    async with ctx.uow() as uow:
        found = await uow.receipts.issued(cdr.cdr_id)
        if found is not None:
            return found
    now = ctx.clock()
    try:
        async with ctx.uow() as uow:
            details = await uow.receipts.billing_details(driver_id)
            number = rc.receipt_number(now.year, await uow.invoices.next_number(rc.series(now.year)))
            issued = rc.IssuedReceipt(cdr.cdr_id, number, driver_id, now, details.to_json() if details else None)
            await uow.receipts.add(issued)
            await uow.commit()
        return issued
    except Duplicate:  # issued meanwhile by a concurrent request (our number was given back)
        async with ctx.uow() as uow:
            found = await uow.receipts.issued(cdr.cdr_id)
        assert found is not None
        return found


async def receipt(ctx: BillingContext, seller: rc.Seller, driver_id: str, cdr_id: str) -> dict[str, Any]:
    """The receipt of one of the driver's CDRs (issued with its number on the first call)."""
    cdr, _ = await my_cdr(ctx, driver_id, cdr_id)
    issued = await _issue(ctx, cdr, driver_id)
    async with ctx.uow() as uow:
        address = await uow.receipts.station_address(cdr.station_id)
        payment = await uow.payments.by_session(cdr.session_id)
        method = await uow.payments.method(payment.method_id) if payment and payment.method_id else None
    if payment is None:
        paid = rc.PaidWith("none", "unknown", None, None)
    else:
        captured = fmt(payment.captured, payment.currency) if payment.method == "card" else None
        paid = rc.PaidWith(payment.method, payment.state.value, rc.payment_label(method), captured)
    return rc.receipt(cdr, issued, seller, address, paid)


async def my_invoices(ctx: BillingContext, driver_id: str, limit: int, offset: int) -> list[dict[str, Any]]:
    async with ctx.uow() as uow:
        return await uow.invoices.list(driver_id=driver_id, limit=limit, offset=offset)


async def my_invoice(ctx: BillingContext, driver_id: str, invoice_id: str) -> dict[str, Any]:
    async with ctx.uow() as uow:
        invoice = await uow.invoices.get(invoice_id)
    if invoice is None or invoice["driver_id"] != driver_id:
        raise NotFound(f"you have no invoice or credit note {invoice_id!r}")
    return invoice


async def set_station_address(ctx: BillingContext, station_id: str, address: str) -> None:
    """The address printed on the receipts of the station's sessions (an operator sets it)."""
    async with ctx.uow() as uow:
        await uow.receipts.set_station_address(station_id, address, ctx.clock())
        await uow.commit()


async def billing_details(ctx: BillingContext, driver_id: str) -> rc.BillingDetails:
    async with ctx.uow() as uow:
        details = await uow.receipts.billing_details(driver_id)
    if details is None:
        raise NotFound("you have set no billing details; receipts are made out to your driver id")
    return details


async def set_billing_details(ctx: BillingContext, driver_id: str, details: rc.BillingDetails) -> rc.BillingDetails:
    """Receipts issued from now on carry these; those issued before keep the buyer they were issued to."""
    async with ctx.uow() as uow:
        await uow.receipts.set_billing_details(driver_id, details, ctx.clock())
        await uow.commit()
    return details

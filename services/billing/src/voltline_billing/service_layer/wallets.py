"""Prepaid wallets: top-ups, balance and statement, and the credit limit an operator may grant."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from voltline_billing.domain import ledger
from voltline_billing.domain.money import fmt, round_money
from voltline_billing.service_layer.context import BillingContext, Conflict, Invalid, NotFound, new_id
from voltline_billing.service_layer.payments import retry_failed_wallet_payments


async def top_up(
    ctx: BillingContext, driver_id: str, amount: Decimal, currency: str, reference: str | None, channel: str
) -> dict[str, Any]:
    """Credit a wallet. `reference` (e.g. the Idempotency-Key header) makes a repeated request a no-op.
    Failed wallet payments of the driver are retried right after."""
    now = ctx.clock()
    reference = f"topup:{driver_id}:{reference or new_id('tu')}"
    value = round_money(amount, currency)
    if value <= 0:
        raise Invalid("amount", "a top-up must be positive")
    async with ctx.uow() as uow:
        account = ledger.wallet_account(driver_id)
        row = await uow.ledger.account(account, lock=True)
        if row is not None and row["currency"] != currency:
            raise Invalid("currency", f"the wallet of driver {driver_id} is in {row['currency']}")
        earlier = await uow.ledger.posted(reference, account)
        if earlier is not None and earlier != (currency, -value):
            raise Conflict(
                f"this Idempotency-Key (or reference) was used for a top-up of {fmt(-earlier[1], earlier[0])} "
                f"{earlier[0]}; a different request needs a new key"
            )
        if earlier is None:
            await uow.ledger.open(account, currency, now)
            await uow.ledger.post(ledger.top_up(driver_id, value, currency, reference, channel), now)
            await uow.commit()
    await retry_failed_wallet_payments(ctx, driver_id)
    return await wallet(ctx, driver_id)


async def wallet(ctx: BillingContext, driver_id: str) -> dict[str, Any]:
    async with ctx.uow() as uow:
        row = await uow.ledger.account(ledger.wallet_account(driver_id))
    if row is None:
        raise NotFound(f"driver {driver_id} has no wallet yet; a top-up opens it")
    currency = row["currency"]
    balance = ledger.wallet_balance(row["balance"])
    return {
        "driver_id": driver_id,
        "currency": currency,
        "balance": fmt(balance, currency),
        "credit_limit": fmt(row["credit_limit"], currency),
        "available": fmt(balance + row["credit_limit"], currency),
        "updated_at": row["updated_at"],
    }


async def set_credit_limit(ctx: BillingContext, driver_id: str, credit_limit: Decimal, currency: str) -> dict[str, Any]:
    if credit_limit < 0:
        raise Invalid("credit_limit", "a credit limit cannot be negative")
    async with ctx.uow() as uow:
        account = ledger.wallet_account(driver_id)
        row = await uow.ledger.account(account, lock=True)
        if row is not None and row["currency"] != currency:
            raise Invalid("currency", f"the wallet of driver {driver_id} is in {row['currency']}")
        await uow.ledger.open(account, currency, ctx.clock())
        await uow.ledger.set_credit_limit(account, round_money(credit_limit, currency), ctx.clock())
        await uow.commit()
    await retry_failed_wallet_payments(ctx, driver_id)
    return await wallet(ctx, driver_id)


async def statement(ctx: BillingContext, driver_id: str, limit: int, offset: int) -> list[dict[str, Any]]:
    """The wallet's entries as the driver sees them: top-ups and refunds positive, charges negative."""
    async with ctx.uow() as uow:
        rows = await uow.ledger.statement(ledger.wallet_account(driver_id), limit, offset)
    return [
        {
            "entry_id": r["entry_id"],
            "kind": r["kind"],
            "reference": r["reference"],
            "amount": fmt(-r["amount"], r["currency"]),
            "currency": r["currency"],
            "created_at": r["created_at"],
        }
        for r in rows
    ]


async def trial_balance(ctx: BillingContext) -> dict[str, Any]:
    async with ctx.uow() as uow:
        tb = await uow.ledger.trial_balance()
    totals: dict[str, Decimal] = {}
    accounts = []
    for name, acc in tb["accounts"].items():
        totals[acc["currency"]] = totals.get(acc["currency"], Decimal(0)) + acc["balance"]
        accounts.append({"account": name, "currency": acc["currency"], "balance": fmt(acc["balance"], acc["currency"]),
                         "matches_postings": acc["balance"] == acc["recomputed"]})  # fmt: skip
    balanced = all(v == 0 for v in totals.values()) and not tb["unbalanced_entries"]
    balanced = balanced and all(a["matches_postings"] for a in accounts)
    return {"balanced": balanced, "accounts": accounts, "unbalanced_entries": tb["unbalanced_entries"],
            "totals": {c: fmt(v, c) for c, v in totals.items()}}  # fmt: skip

"""A driver's own payment methods and wallet top-ups by card, from the drivers' app.

Cards are the provider's tokens from its client-side flow (the sandbox's `tok_visa` under `make run`);
billing never sees a card number. A top-up is a card sale through the provider port, then a ledger entry,
both under keys derived from the request's Idempotency-Key: sending the same request again (after a timeout,
a crash between the two steps, a double tap) charges the card once and credits the wallet once.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from voltline_chassis import get_logger

from voltline_billing.domain import ledger
from voltline_billing.domain.money import Money, fmt, round_money
from voltline_billing.domain.payments import Outcome
from voltline_billing.service_layer import wallets
from voltline_billing.service_layer.context import BillingContext, Conflict, Invalid, NotFound, new_id
from voltline_billing.service_layer.ports import ProviderTimeout

log = get_logger(__name__)


class PaymentDeclined(Exception):
    """The provider refused the card (402): the message says why, nothing was charged."""


class ProviderNoAnswer(Exception):
    """The provider did not answer (504): the outcome is unknown; the same request with the same
    Idempotency-Key completes it without charging twice."""


def method_json(row: dict[str, Any]) -> dict[str, Any]:
    token = row.get("token")
    return {**row, "token": None if not token else f"…{token[-4:]}"}


async def methods(ctx: BillingContext, driver_id: str) -> list[dict[str, Any]]:
    async with ctx.uow() as uow:
        return [method_json(m) for m in await uow.payments.methods(driver_id)]


async def add_method(
    ctx: BillingContext, driver_id: str, kind: str, token: str | None, label: str | None, default: bool
) -> dict[str, Any]:
    if kind == "card" and not token:
        raise Invalid("token", "a card needs the payment provider's token (e.g. tok_visa in the sandbox)")
    values = {
        "method_id": new_id("pm"), "driver_id": driver_id, "type": kind, "token": token if kind == "card" else None,
        "provider": ctx.provider.name if kind == "card" else None, "label": label, "is_default": default,
        "status": "active", "created_at": ctx.clock(),
    }  # fmt: skip
    async with ctx.uow() as uow:
        first = not await uow.payments.methods(driver_id)
        values["is_default"] = default or first
        await uow.payments.add_method(**values)
        await uow.commit()
    return method_json(values)


async def _mine(ctx: BillingContext, driver_id: str, method_id: str) -> dict[str, Any]:
    async with ctx.uow() as uow:
        method = await uow.payments.method(method_id)
    if method is None or method["driver_id"] != driver_id or method["status"] != "active":
        raise NotFound(f"you have no payment method {method_id!r}")
    return method


async def remove_method(ctx: BillingContext, driver_id: str, method_id: str) -> None:
    await _mine(ctx, driver_id, method_id)
    async with ctx.uow() as uow:
        await uow.payments.remove_method(method_id)
        await uow.commit()


async def set_default(ctx: BillingContext, driver_id: str, method_id: str) -> dict[str, Any]:
    await _mine(ctx, driver_id, method_id)
    async with ctx.uow() as uow:
        await uow.payments.set_default_method(driver_id, method_id)
        await uow.commit()
    return method_json(await _mine(ctx, driver_id, method_id))


async def _card(ctx: BillingContext, driver_id: str, method_id: str | None) -> dict[str, Any]:
    if method_id is not None:
        method = await _mine(ctx, driver_id, method_id)
        if method["type"] != "card":
            raise Invalid("method_id", f"payment method {method_id} is not a card")
        return method
    async with ctx.uow() as uow:
        cards = [m for m in await uow.payments.methods(driver_id) if m["type"] == "card"]
    if not cards:
        raise Invalid("method_id", "add a card first: a top-up is paid by card")
    return next((m for m in cards if m["is_default"]), cards[0])


async def _sale(ctx: BillingContext, token: str, amount: Money, key: str, reference: str) -> Outcome:
    try:
        call = ctx.provider.sale(token=token, amount=amount, key=key, reference=reference)
        return await asyncio.wait_for(call, ctx.config.provider_timeout_s)
    except (ProviderTimeout, TimeoutError) as exc:
        return Outcome("timeout", message=str(exc) or "the payment provider did not answer in time")
    except Exception as exc:  # unknown outcome: the same key settles it later
        log.warning("top_up_provider_error", error=repr(exc))
        return Outcome("timeout", message=f"payment provider error: {type(exc).__name__}")


async def top_up_by_card(
    ctx: BillingContext, driver_id: str, amount: Decimal, currency: str, key: str, method_id: str | None
) -> dict[str, Any]:
    """Charge the card, then credit the wallet; idempotent on `key` (the Idempotency-Key header)."""
    value = round_money(amount, currency)
    if value <= 0:
        raise Invalid("amount", "a top-up must be positive")
    reference = f"topup:{driver_id}:{key}"
    async with ctx.uow() as uow:
        account = ledger.wallet_account(driver_id)
        row = await uow.ledger.account(account)
        if row is not None and row["currency"] != currency:
            raise Invalid("currency", f"your wallet is in {row['currency']}")
        earlier = await uow.ledger.posted(reference, account)
    if earlier is not None:
        if earlier != (currency, -value):
            raise Conflict(f"this Idempotency-Key was used for a top-up of {fmt(-earlier[1], earlier[0])} "
                           f"{earlier[0]}; a different top-up needs a new key")  # fmt: skip
        return await wallets.wallet(ctx, driver_id)  # done before: nothing charged again
    card = await _card(ctx, driver_id, method_id)
    outcome = await _sale(ctx, card["token"] or "", Money(value, currency), f"card:{reference}", reference)
    log.info("wallet_top_up_by_card", driver_id=driver_id, amount=str(value), currency=currency, outcome=outcome.kind)
    if outcome.kind == "timeout":
        raise ProviderNoAnswer(
            "the card payment was not answered in time; send the same request with the same Idempotency-Key "
            "again: the card is charged at most once"
        )
    if outcome.kind != "ok":
        raise PaymentDeclined(f"the card was declined ({outcome.message or outcome.kind}); nothing was charged")
    return await wallets.top_up(ctx, driver_id, value, currency, key, "card")

"""Prepaid wallets: balance, top-ups, credit limit, statement; and the ledger's trial balance."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Header
from pydantic import BaseModel, ConfigDict, Field, field_validator
from voltline_chassis.paging import Page
from voltline_chassis.schemas import returns

from voltline_billing.domain.money import check_currency
from voltline_billing.entrypoints.api.common import (
    OPERATOR,
    VIEWER,
    DriverId,
    Limit,
    Offset,
    fetch_size,
    page,
)
from voltline_billing.entrypoints.schemas.accounts import StatementEntryOut, TrialBalanceOut, WalletOut
from voltline_billing.service_layer import wallets as uc
from voltline_billing.service_layer.context import BillingContext


class _Currency(BaseModel):
    model_config = ConfigDict(extra="forbid")
    currency: str

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return check_currency(value)


class TopUpIn(_Currency):
    amount: Decimal = Field(gt=0, max_digits=18, decimal_places=6)
    channel: str = Field(default="manual", pattern=r"^[a-z0-9_\-]{1,32}$", description="card, bank_transfer, cash...")
    reference: str | None = Field(default=None, max_length=100, description="Makes a repeated top-up a no-op.")


class CreditLimitIn(_Currency):
    credit_limit: Decimal = Field(ge=0, max_digits=18, decimal_places=6)


def build_router(ctx: BillingContext) -> APIRouter:
    router = APIRouter(tags=["wallets"])

    @router.get("/wallets/{driver_id}", dependencies=VIEWER, **returns(WalletOut))
    async def get(driver_id: DriverId) -> dict[str, Any]:
        return await uc.wallet(ctx, driver_id)

    @router.post("/wallets/{driver_id}/top-ups", status_code=201, dependencies=OPERATOR, **returns(WalletOut))
    async def top_up(
        driver_id: DriverId, body: TopUpIn, idempotency_key: Annotated[str | None, Header(max_length=100)] = None
    ) -> dict[str, Any]:
        """Credit the wallet (money received through `channel`); failed wallet payments are retried after."""
        reference = body.reference or idempotency_key
        return await uc.top_up(ctx, driver_id, body.amount, body.currency, reference, body.channel)

    @router.put("/wallets/{driver_id}/credit-limit", dependencies=OPERATOR, **returns(WalletOut))
    async def credit_limit(driver_id: DriverId, body: CreditLimitIn) -> dict[str, Any]:
        return await uc.set_credit_limit(ctx, driver_id, body.credit_limit, body.currency)

    @router.get("/wallets/{driver_id}/ledger", dependencies=VIEWER, **returns(Page[StatementEntryOut]))
    async def statement(driver_id: DriverId, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
        return page(await uc.statement(ctx, driver_id, fetch_size(limit), offset), limit, offset)

    @router.get("/ledger/trial-balance", dependencies=VIEWER, **returns(TrialBalanceOut))
    async def trial_balance() -> dict[str, Any]:
        """Every account's balance; `balanced` is true when all entries and accounts add up to zero."""
        return await uc.trial_balance(ctx)

    return router

"""Monthly invoices, credit notes, and marking documents paid."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from voltline_chassis.paging import Page
from voltline_chassis.schemas import Items, returns
from voltline_chassis.validation import PositiveMoney

from voltline_billing.domain.money import fmt
from voltline_billing.entrypoints.api.common import (
    OPERATOR,
    VIEWER,
    DriverIdQuery,
    Limit,
    Offset,
    fetch_size,
    items,
    page,
)
from voltline_billing.entrypoints.schemas.accounts import DocumentOut
from voltline_billing.service_layer import invoices as uc
from voltline_billing.service_layer.context import BillingContext


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    period: str = Field(pattern=r"^\d{4}-\d{2}$", description="The month to invoice, YYYY-MM (UTC).")


class CreditLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    line: int = Field(ge=0, le=100_000, description="Index of the invoice line.")
    amount: PositiveMoney = Field(description="Excluding VAT.")


class CreditNoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=255)
    lines: list[CreditLineIn] | None = Field(default=None, description="Default: credit everything left.")


def document_json(row: dict[str, Any]) -> dict[str, Any]:
    cur = row["currency"]
    return {**row, **{k: fmt(row[k], cur) for k in ("total_excl_vat", "total_vat", "total_incl_vat")}}


def build_router(ctx: BillingContext) -> APIRouter:
    router = APIRouter(tags=["invoices"])

    @router.post("/invoices/run", dependencies=OPERATOR, **returns(Items[DocumentOut]))
    async def run(body: RunIn) -> dict[str, Any]:
        """Issue the month's invoices (postpaid sessions, plan fees); running it again issues only what is missing."""
        return items([document_json(d) for d in await uc.run_month(ctx, body.period)])

    @router.get("/invoices", dependencies=VIEWER, **returns(Page[DocumentOut]))
    async def list_(
        driver_id: DriverIdQuery = None,
        period: str | None = None,
        kind: Literal["invoice", "credit_note"] | None = None,
        corrects: str | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        found = await uc.list_documents(ctx, fetch_size(limit), offset, driver_id=driver_id, period=period, kind=kind,
                                        corrects=corrects)  # fmt: skip
        return page([document_json(d) for d in found], limit, offset)

    @router.get("/invoices/{invoice_id}", dependencies=VIEWER, **returns(DocumentOut))
    async def get(invoice_id: str) -> dict[str, Any]:
        return document_json(await uc.get(ctx, invoice_id))

    @router.post("/invoices/{invoice_id}/credit-notes", status_code=201, dependencies=OPERATOR, **returns(DocumentOut))
    async def credit(invoice_id: str, body: CreditNoteIn) -> dict[str, Any]:
        amounts = None if body.lines is None else {line.line: line.amount for line in body.lines}
        return document_json(await uc.credit_note(ctx, invoice_id, body.reason, amounts))

    @router.post("/invoices/{invoice_id}/mark-paid", dependencies=OPERATOR, **returns(DocumentOut))
    async def mark_paid(invoice_id: str) -> dict[str, Any]:
        return document_json(await uc.mark_paid(ctx, invoice_id))

    return router

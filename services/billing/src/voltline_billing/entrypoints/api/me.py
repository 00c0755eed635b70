"""The drivers' app API of billing (/api/v1/me/...): CDRs, receipts (JSON and PDF), invoices, payment methods,
wallet and top-ups, plans and the subscription (docs/drivers.md, "Receipts and payment").

Every route takes the driver's access token (current_driver); another driver's ids answer 404, as missing
ones do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from voltline_chassis.driver_tokens import CurrentDriver
from voltline_chassis.paging import Page
from voltline_chassis.schemas import Items, ResponseModel, media, returns

from voltline_billing.domain.cdr import cdr_json
from voltline_billing.domain.money import check_currency
from voltline_billing.domain.plans import Subscription
from voltline_billing.domain.receipts import BillingDetails, Seller
from voltline_billing.entrypoints.api.common import OPERATOR, Limit, Offset, fetch_size, invalid, items, page
from voltline_billing.entrypoints.api.invoices import document_json
from voltline_billing.entrypoints.api.plans import plan_json
from voltline_billing.entrypoints.api.tariffs import StationId
from voltline_billing.entrypoints.schemas.accounts import DocumentOut, PlanOut, StatementEntryOut, WalletOut
from voltline_billing.entrypoints.schemas.cdrs import CdrOut
from voltline_billing.entrypoints.schemas.payments import MethodOut
from voltline_billing.entrypoints.schemas.receipts import ReceiptOut, StationAddressOut
from voltline_billing.service_layer import driver_payments as pay
from voltline_billing.service_layer import plans as plans_uc
from voltline_billing.service_layer import receipts as uc
from voltline_billing.service_layer import wallets as wallets_uc
from voltline_billing.service_layer.context import BillingContext, NotFound

PDF = media("application/pdf", "The document as PDF (A4), with the same figures as its JSON", binary=True)
ReceiptRenderer = Callable[[dict[str, Any]], bytes]
InvoiceRenderer = Callable[[dict[str, Any], dict[str, Any]], bytes]
IdempotencyKey = Annotated[
    str | None,
    Header(min_length=1, max_length=100, description="Required: the same key makes a repeated top-up a no-op."),
]


class MyMethodIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["card", "wallet"] = "card"
    token: str | None = Field(default=None, min_length=1, max_length=255,
                              description="card: the token of the provider's client-side card flow")  # fmt: skip
    label: str | None = Field(default=None, max_length=100)
    default: bool = Field(default=False, description="The first method is the default anyway.")


class MyTopUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: Decimal = Field(gt=0, le=Decimal(10_000), max_digits=18, decimal_places=6)
    currency: str
    method_id: str | None = Field(default=None, max_length=64, description="Default: the default card.")

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return check_currency(value)


class MySubscribeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan_id: str = Field(min_length=1, max_length=64)


class BillingDetailsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, description="A person's or a business's name")
    address: str | None = Field(default=None, min_length=1, max_length=300)
    vat_id: str | None = Field(default=None, min_length=4, max_length=40, pattern=r"^[A-Za-z0-9 .\-]+$")


class BillingDetailsOut(ResponseModel):
    name: str
    address: str | None
    vat_id: str | None


class StationAddressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str = Field(min_length=1, max_length=255, description="As printed on receipts: street, city, country")


def _pdf(content: bytes, name: str) -> Response:
    return Response(
        content, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'}
    )


def build_router(
    ctx: BillingContext, seller: Seller, receipt_pdf: ReceiptRenderer, invoice_pdf: InvoiceRenderer
) -> APIRouter:
    """Included with create_app's `driver_routers` (no operator role baseline)."""
    router = APIRouter(tags=["drivers' app"])
    seller_json = asdict(seller)

    # -- CDRs and receipts
    @router.get("/me/cdrs", **returns(Page[CdrOut]))
    async def my_cdrs(driver_id: CurrentDriver, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
        """The driver's CDRs, newest first."""
        found = await uc.my_cdrs(ctx, driver_id, fetch_size(limit), offset)
        return page([cdr_json(cdr, state) for cdr, state in found], limit, offset)

    @router.get("/me/cdrs/{cdr_id}", **returns(CdrOut))
    async def my_cdr(cdr_id: str, driver_id: CurrentDriver) -> dict[str, Any]:
        return cdr_json(*await uc.my_cdr(ctx, driver_id, cdr_id))

    @router.get("/me/cdrs/{cdr_id}/receipt", **returns(ReceiptOut))
    async def receipt(cdr_id: str, driver_id: CurrentDriver) -> dict[str, Any]:
        """The CDR's receipt; the first call issues its number (RCT-<year>-NNNNNN, gap-free)."""
        return await uc.receipt(ctx, seller, driver_id, cdr_id)

    @router.get("/me/cdrs/{cdr_id}/receipt.pdf", response_class=Response, responses=PDF)
    async def receipt_as_pdf(cdr_id: str, driver_id: CurrentDriver) -> Response:
        document = await uc.receipt(ctx, seller, driver_id, cdr_id)
        return _pdf(receipt_pdf(document), f"{document['number']}.pdf")

    @router.get("/me/billing-details", **returns(BillingDetailsOut))
    async def my_details(driver_id: CurrentDriver) -> dict[str, Any]:
        """Who receipts are made out to; 404 until set (receipts then name the driver id only)."""
        return (await uc.billing_details(ctx, driver_id)).to_json()

    @router.put("/me/billing-details", **returns(BillingDetailsOut))
    async def set_details(body: BillingDetailsIn, driver_id: CurrentDriver) -> dict[str, Any]:
        """Printed on receipts issued from now on (an issued receipt keeps its buyer)."""
        details = BillingDetails(body.name, body.address, body.vat_id)
        return (await uc.set_billing_details(ctx, driver_id, details)).to_json()

    # -- invoices
    @router.get("/me/invoices", **returns(Page[DocumentOut]))
    async def my_invoices(driver_id: CurrentDriver, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
        """The driver's monthly invoices and credit notes."""
        found = await uc.my_invoices(ctx, driver_id, fetch_size(limit), offset)
        return page([document_json(d) for d in found], limit, offset)

    @router.get("/me/invoices/{invoice_id}", **returns(DocumentOut))
    async def my_invoice(invoice_id: str, driver_id: CurrentDriver) -> dict[str, Any]:
        return document_json(await uc.my_invoice(ctx, driver_id, invoice_id))

    @router.get("/me/invoices/{invoice_id}/receipt.pdf", response_class=Response, responses=PDF)
    async def invoice_as_pdf(invoice_id: str, driver_id: CurrentDriver) -> Response:
        document = document_json(await uc.my_invoice(ctx, driver_id, invoice_id))
        return _pdf(invoice_pdf(document, seller_json), f"{document['number']}.pdf")

    # -- payment methods
    @router.get("/me/payment-methods", **returns(Items[MethodOut]))
    async def my_methods(driver_id: CurrentDriver) -> dict[str, Any]:
        return items(await pay.methods(ctx, driver_id))

    @router.post("/me/payment-methods", status_code=201, **returns(MethodOut))
    async def add_method(body: MyMethodIn, driver_id: CurrentDriver) -> dict[str, Any]:
        """A card (the provider's token from its client-side flow; `tok_visa` in the sandbox) or the wallet."""
        return await pay.add_method(ctx, driver_id, body.type, body.token, body.label, body.default)

    @router.delete("/me/payment-methods/{method_id}", status_code=204, response_class=Response)
    async def remove_method(method_id: str, driver_id: CurrentDriver) -> Response:
        await pay.remove_method(ctx, driver_id, method_id)
        return Response(status_code=204)

    @router.post("/me/payment-methods/{method_id}/default", **returns(MethodOut))
    async def set_default(method_id: str, driver_id: CurrentDriver) -> dict[str, Any]:
        """The method charged for the next sessions."""
        return await pay.set_default(ctx, driver_id, method_id)

    # -- wallet
    @router.get("/me/wallet", **returns(WalletOut))
    async def my_wallet(driver_id: CurrentDriver) -> dict[str, Any]:
        return await wallets_uc.wallet(ctx, driver_id)

    @router.post("/me/wallet/top-ups", status_code=201, **returns(WalletOut))
    async def top_up(body: MyTopUpIn, driver_id: CurrentDriver, idempotency_key: IdempotencyKey = None) -> Any:
        """Charge the card, then credit the wallet; the same Idempotency-Key never charges twice."""
        if idempotency_key is None:
            raise invalid("header.idempotency-key", "a top-up needs an Idempotency-Key header (e.g. a UUID)")
        return await pay.top_up_by_card(ctx, driver_id, body.amount, body.currency, idempotency_key, body.method_id)

    @router.get("/me/wallet/history", **returns(Page[StatementEntryOut]))
    async def history(driver_id: CurrentDriver, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
        """Top-ups and refunds positive, charges negative; newest first."""
        return page(await wallets_uc.statement(ctx, driver_id, fetch_size(limit), offset), limit, offset)

    # -- plans
    @router.get("/me/plans", **returns(Items[PlanOut]))
    async def public_plans(driver_id: CurrentDriver) -> dict[str, Any]:
        """The plans a driver can subscribe to."""
        return items([plan_json(p) for p in await plans_uc.list_plans(ctx)])

    @router.get("/me/subscription")
    async def current(driver_id: CurrentDriver) -> Subscription:
        """The driver's running subscription; 404 when none."""
        running = [s for s in await plans_uc.subscriptions(ctx, driver_id) if s.cancelled_at is None]
        if not running:
            raise NotFound("you hold no subscription")
        return running[-1]

    @router.post("/me/subscription", status_code=201)
    async def subscribe(body: MySubscribeIn, driver_id: CurrentDriver) -> Subscription:
        """Subscribe from now (409 while another subscription runs)."""
        return await plans_uc.subscribe(ctx, driver_id, body.plan_id)

    @router.post("/me/subscription/cancel")
    async def cancel(driver_id: CurrentDriver) -> Subscription:
        """End the running subscription now."""
        sub = await current(driver_id)
        return await plans_uc.cancel(ctx, sub.subscription_id)

    return router


def build_operator_router(ctx: BillingContext) -> APIRouter:
    """What operators set for the drivers' receipts."""
    router = APIRouter(tags=["receipts"])

    @router.put("/stations/{station_id}/address", dependencies=OPERATOR, **returns(StationAddressOut))
    async def set_address(station_id: StationId, body: StationAddressIn) -> dict[str, Any]:
        """The station's address as printed on receipts."""
        await uc.set_station_address(ctx, station_id, body.address)
        return {"station_id": station_id, "address": body.address}

    return router

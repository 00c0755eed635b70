"""Drivers' payment methods, session payments (with their provider operations), retries and refunds."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field
from voltline_chassis.paging import Page
from voltline_chassis.problems import Problem
from voltline_chassis.schemas import Items, returns
from voltline_chassis.validation import Identifier, PositiveMoney

from voltline_billing.domain.money import fmt
from voltline_billing.domain.payments import State
from voltline_billing.entrypoints.api.common import (
    OPERATOR,
    VIEWER,
    DriverId,
    DriverIdQuery,
    Limit,
    Offset,
    fetch_size,
    invalid,
    items,
    page,
)
from voltline_billing.entrypoints.schemas.payments import (
    MethodOut,
    PaymentDetailOut,
    PaymentOut,
    RefundOut,
    SandboxOperationsOut,
)
from voltline_billing.service_layer import payments as uc
from voltline_billing.service_layer import refunds as refunds_uc
from voltline_billing.service_layer.context import BillingContext, new_id

_AMOUNTS = ("hold_amount", "held", "due", "captured", "refunded")


class MethodIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["card", "wallet", "postpaid"]
    token: str | None = Field(default=None, max_length=255, description="card: the provider's payment method token")
    label: str | None = Field(default=None, max_length=100)
    default: bool = True


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: PositiveMoney | None = Field(default=None, description="Default: everything not yet refunded.")
    reason: str | None = Field(default=None, max_length=255)


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    driver_id: Identifier


def payment_json(row: dict[str, Any], operations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    cur = row["currency"]
    out = {k: v for k, v in row.items() if k not in _AMOUNTS}
    out |= {k: None if row[k] is None else fmt(row[k], cur) for k in _AMOUNTS}
    out["needs_attention"] = row["state"] in (State.FAILED, State.UNASSIGNED, State.HOLD_DECLINED) or bool(
        row["last_error"]
    )
    if operations is not None:
        out["operations"] = [
            {k: (fmt(v, cur) if k == "amount" else v) for k, v in op.items() if k != "payment_id"} for op in operations
        ]
    return out


def refund_json(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "amount": fmt(row["amount"], row["currency"])}


def method_json(row: dict[str, Any]) -> dict[str, Any]:
    token = row.get("token")
    return {**row, "token": None if not token else f"…{token[-4:]}"}


def build_router(ctx: BillingContext) -> APIRouter:
    router = APIRouter(tags=["payments"])

    @router.post("/drivers/{driver_id}/payment-methods", status_code=201, dependencies=OPERATOR, **returns(MethodOut))
    async def add_method(driver_id: DriverId, body: MethodIn) -> dict[str, Any]:
        if body.type == "card" and not body.token:
            raise invalid("body.token", "a card needs the payment provider's token (e.g. tok_visa in the sandbox)")
        values = {
            "method_id": new_id("pm"), "driver_id": driver_id, "type": body.type, "token": body.token,
            "provider": ctx.provider.name if body.type == "card" else None, "label": body.label,
            "is_default": body.default, "status": "active", "created_at": ctx.clock(),
        }  # fmt: skip
        async with ctx.uow() as uow:
            await uow.payments.add_method(**values)
            await uow.commit()
        return method_json(values)

    @router.get("/drivers/{driver_id}/payment-methods", dependencies=VIEWER, **returns(Items[MethodOut]))
    async def list_methods(driver_id: DriverId) -> dict[str, Any]:
        async with ctx.uow() as uow:
            return items([method_json(m) for m in await uow.payments.methods(driver_id)])

    @router.delete("/drivers/{driver_id}/payment-methods/{method_id}", status_code=204, dependencies=OPERATOR)
    async def remove_method(driver_id: DriverId, method_id: str) -> Response:
        async with ctx.uow() as uow:
            method = await uow.payments.method(method_id)
            if method is None or method["driver_id"] != driver_id:
                raise Problem(404, f"driver {driver_id} has no payment method {method_id!r}")
            await uow.payments.remove_method(method_id)
            await uow.commit()
        return Response(status_code=204)

    @router.get("/payments", dependencies=VIEWER, **returns(Page[PaymentOut]))
    async def list_(
        session_id: str | None = None,
        driver_id: DriverIdQuery = None,
        state: State | None = None,
        method: str | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        async with ctx.uow() as uow:
            rows = await uow.payments.rows(
                session_id=session_id,
                driver_id=driver_id,
                method=method,
                state=state.value if state else None,
                limit=fetch_size(limit),
                offset=offset,
            )
        return page([payment_json(r) for r in rows], limit, offset)

    async def detail(payment_id: str) -> dict[str, Any]:
        async with ctx.uow() as uow:
            row = await uow.payments.row(payment_id)
            if row is None:
                raise Problem(404, f"no payment {payment_id!r}")
            operations = await uow.payments.operations(payment_id)
            refunds = await uow.payments.refunds(payment_id=payment_id)
        return payment_json(row, operations) | {"refunds": [refund_json(r) for r in refunds]}

    @router.get("/payments/{payment_id}", dependencies=VIEWER, **returns(PaymentDetailOut))
    async def get(payment_id: str) -> dict[str, Any]:
        return await detail(payment_id)

    @router.post("/payments/{payment_id}/retry", dependencies=OPERATOR, **returns(PaymentDetailOut))
    async def retry(payment_id: str) -> dict[str, Any]:
        """Try a failed payment again (after the driver fixed the card or topped up), or re-send an
        unanswered provider call with its original idempotency key."""
        await uc.retry(ctx, payment_id)
        return await detail(payment_id)

    @router.post("/payments/{payment_id}/assign", dependencies=OPERATOR, **returns(PaymentDetailOut))
    async def assign(payment_id: str, body: AssignIn) -> dict[str, Any]:
        await uc.assign(ctx, payment_id, body.driver_id)
        return await detail(payment_id)

    @router.post("/payments/{payment_id}/refunds", status_code=201, dependencies=OPERATOR, **returns(RefundOut))
    async def refund(payment_id: str, body: RefundIn) -> dict[str, Any]:
        return refund_json(await refunds_uc.request_refund(ctx, payment_id, body.amount, body.reason))

    @router.get("/refunds", dependencies=VIEWER, **returns(Items[RefundOut]))
    async def list_refunds(payment_id: str | None = None, state: str | None = None) -> dict[str, Any]:
        async with ctx.uow() as uow:
            return items([refund_json(r) for r in await uow.payments.refunds(payment_id=payment_id, state=state)])

    return router


def sandbox_router(sandbox: Any) -> APIRouter:
    router = APIRouter(tags=["sandbox"])

    @router.get("/sandbox/operations", dependencies=VIEWER, **returns(SandboxOperationsOut))
    async def operations() -> dict[str, Any]:
        """What the built-in sandbox provider was asked and did (only with VOLTLINE_PAYMENT_PROVIDER=sandbox)."""
        summary: dict[str, Any] = sandbox.summary()
        return {"items": summary["operations"], "intents": summary["intents"]}

    return router

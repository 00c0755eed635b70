"""Subscription plans and subscriptions."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Any

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from voltline_chassis.schemas import Items, returns
from voltline_chassis.validation import Identifier

from voltline_billing.domain.money import check_currency, fmt
from voltline_billing.domain.plans import Plan, Subscription
from voltline_billing.domain.tariffs import Percent, Price
from voltline_billing.entrypoints.api.common import OPERATOR, VIEWER, DriverIdQuery, items
from voltline_billing.entrypoints.schemas.accounts import PlanOut
from voltline_billing.service_layer import plans as uc
from voltline_billing.service_layer.context import BillingContext


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._\-]+$")
    name: str = Field(min_length=1, max_length=100)
    currency: str
    monthly_fee: Price
    included_kwh: Decimal = Field(default=Decimal(0), ge=0, max_digits=12, decimal_places=3)
    energy_discount_percent: Percent = Decimal(0)
    session_fee_discount_percent: Percent = Decimal(0)
    vat_percent: Percent | None = None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return check_currency(value)


class SubscribeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    driver_id: Identifier
    plan_id: str = Field(min_length=1, max_length=64)
    starts_at: AwareDatetime | None = Field(default=None, description="Default: now.")


def plan_json(plan: Plan) -> dict[str, Any]:
    out = asdict(plan)
    out["monthly_fee"] = fmt(plan.monthly_fee, plan.currency)
    for key in ("included_kwh", "energy_discount_percent", "session_fee_discount_percent", "vat_percent"):
        out[key] = None if out[key] is None else str(out[key])
    return out


def build_router(ctx: BillingContext) -> APIRouter:
    router = APIRouter(tags=["plans"])

    @router.post("/plans", status_code=201, dependencies=OPERATOR, **returns(PlanOut))
    async def create(body: PlanIn) -> dict[str, Any]:
        return plan_json(await uc.create_plan(ctx, Plan(**body.model_dump())))

    @router.get("/plans", dependencies=VIEWER, **returns(Items[PlanOut]))
    async def list_() -> dict[str, Any]:
        return items([plan_json(p) for p in await uc.list_plans(ctx)])

    @router.post("/subscriptions", status_code=201, dependencies=OPERATOR)
    async def subscribe(body: SubscribeIn) -> Subscription:
        return await uc.subscribe(ctx, body.driver_id, body.plan_id, body.starts_at)

    @router.get("/subscriptions", dependencies=VIEWER, **returns(Items[Subscription]))
    async def list_subscriptions(driver_id: DriverIdQuery = None) -> dict[str, Any]:
        return items([asdict(s) for s in await uc.subscriptions(ctx, driver_id)])

    @router.post("/subscriptions/{subscription_id}/cancel", dependencies=OPERATOR)
    async def cancel(subscription_id: str) -> Subscription:
        return await uc.cancel(ctx, subscription_id)

    return router

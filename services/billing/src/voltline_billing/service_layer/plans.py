"""Subscription plans and drivers' subscriptions to them."""

from __future__ import annotations

from datetime import datetime

from voltline_billing.domain.plans import Plan, Subscription
from voltline_billing.service_layer.context import BillingContext, Conflict, Invalid, NotFound, new_id


async def create_plan(ctx: BillingContext, plan: Plan) -> Plan:
    async with ctx.uow() as uow:
        if await uow.plans.plan(plan.plan_id) is not None:
            raise Conflict(f"plan {plan.plan_id!r} exists; plans are not changed once drivers may hold them")
        await uow.plans.add_plan(plan, ctx.clock())
        await uow.commit()
    return plan


async def list_plans(ctx: BillingContext) -> list[Plan]:
    async with ctx.uow() as uow:
        return await uow.plans.plans()


async def subscribe(
    ctx: BillingContext, driver_id: str, plan_id: str, starts_at: datetime | None = None
) -> Subscription:
    """Subscribe from now, or from `starts_at` (e.g. when moving drivers over from another system)."""
    start = starts_at or ctx.clock()
    async with ctx.uow() as uow:
        if await uow.plans.plan(plan_id) is None:
            raise Invalid("plan_id", f"no plan {plan_id!r}")
        running = [s for s in await uow.plans.subscriptions(driver_id) if s.cancelled_at is None]
        if running:
            raise Conflict(
                f"driver {driver_id} already holds subscription {running[0].subscription_id}; cancel it first"
            )
        sub = Subscription(new_id("sub"), driver_id, plan_id, start)
        await uow.plans.add_subscription(sub)
        await uow.commit()
    return sub


async def cancel(ctx: BillingContext, subscription_id: str) -> Subscription:
    now = ctx.clock()
    async with ctx.uow() as uow:
        sub = await uow.plans.subscription(subscription_id)
        if sub is None:
            raise NotFound(f"no subscription {subscription_id!r}")
        if sub.cancelled_at is None:
            await uow.plans.cancel(subscription_id, now)
            await uow.commit()
            sub = Subscription(sub.subscription_id, sub.driver_id, sub.plan_id, sub.started_at, now)
    return sub


async def subscriptions(ctx: BillingContext, driver_id: str | None) -> list[Subscription]:
    async with ctx.uow() as uow:
        return await uow.plans.subscriptions(driver_id)

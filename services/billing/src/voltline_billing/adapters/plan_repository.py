"""Plans, subscriptions, the included energy used per month, invoices and their gapless counters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from voltline_billing.adapters.orm import (
    document_counters,
    invoices,
    plan_usage,
    plans,
    subscription_fees,
    subscriptions,
)
from voltline_billing.domain.plans import Plan, Subscription


def _insert_ignore(session: AsyncSession, table: Any, **values: Any) -> Any:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table).values(**values).on_conflict_do_nothing()


class PlanRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add_plan(self, plan: Plan, now: datetime) -> None:
        await self._s.execute(insert(plans).values(**plan.__dict__, created_at=now))

    async def plan(self, plan_id: str) -> Plan | None:
        row = (await self._s.execute(select(plans).where(plans.c.plan_id == plan_id))).first()
        return None if row is None else Plan(**{k: v for k, v in row._mapping.items() if k != "created_at"})

    async def plans(self) -> list[Plan]:
        rows = await self._s.execute(select(plans).order_by(plans.c.plan_id))
        return [Plan(**{k: v for k, v in row._mapping.items() if k != "created_at"}) for row in rows]

    async def add_subscription(self, sub: Subscription) -> None:
        await self._s.execute(insert(subscriptions).values(**sub.__dict__))

    async def subscription(self, subscription_id: str) -> Subscription | None:
        query = select(subscriptions).where(subscriptions.c.subscription_id == subscription_id)
        row = (await self._s.execute(query)).first()
        return None if row is None else Subscription(**row._mapping)

    async def subscriptions(self, driver_id: str | None = None) -> list[Subscription]:
        query = select(subscriptions).order_by(subscriptions.c.started_at, subscriptions.c.subscription_id)
        if driver_id is not None:
            query = query.where(subscriptions.c.driver_id == driver_id)
        return [Subscription(**row._mapping) for row in await self._s.execute(query)]

    async def active_at(self, driver_id: str, at: datetime) -> Subscription | None:
        return next((s for s in await self.subscriptions(driver_id) if s.active_at(at)), None)

    async def cancel(self, subscription_id: str, at: datetime) -> None:
        stmt = update(subscriptions).where(subscriptions.c.subscription_id == subscription_id)
        await self._s.execute(stmt.values(cancelled_at=at))

    async def usage_for_update(self, subscription_id: str, month: str) -> int:
        """Included Wh used this month, with the row locked so two sessions cannot both spend the same kWh."""
        await self._s.execute(
            _insert_ignore(self._s, plan_usage, subscription_id=subscription_id, month=month, included_wh_used=0)
        )
        query = select(plan_usage.c.included_wh_used).where(
            plan_usage.c.subscription_id == subscription_id, plan_usage.c.month == month
        )
        return int((await self._s.execute(query.with_for_update())).scalar() or 0)

    async def add_usage(self, subscription_id: str, month: str, wh: int) -> None:
        c = plan_usage.c
        stmt = update(plan_usage).where(c.subscription_id == subscription_id, c.month == month)
        await self._s.execute(stmt.values(included_wh_used=c.included_wh_used + wh))

    async def fee_invoiced(self, subscription_id: str, period: str) -> bool:
        query = select(subscription_fees.c.invoice_id).where(
            subscription_fees.c.subscription_id == subscription_id, subscription_fees.c.period == period
        )
        return (await self._s.execute(query)).first() is not None

    async def mark_fee_invoiced(self, subscription_id: str, period: str, invoice_id: str) -> None:
        await self._s.execute(
            insert(subscription_fees).values(subscription_id=subscription_id, period=period, invoice_id=invoice_id)
        )


class InvoiceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def next_number(self, series: str) -> int:
        """The next number of a series, taken under a row lock: a rolled-back issue leaves no gap."""
        await self._s.execute(_insert_ignore(self._s, document_counters, series=series, last_number=0))
        query = select(document_counters.c.last_number).where(document_counters.c.series == series)
        number = int((await self._s.execute(query.with_for_update())).scalar_one()) + 1
        stmt = update(document_counters).where(document_counters.c.series == series)
        await self._s.execute(stmt.values(last_number=number))
        return number

    async def add(self, **values: Any) -> None:
        await self._s.execute(insert(invoices).values(**values))

    async def get(self, invoice_id: str, *, lock: bool = False) -> dict[str, Any] | None:
        query = select(invoices).where(invoices.c.invoice_id == invoice_id)
        row = (await self._s.execute(query.with_for_update() if lock else query)).first()
        return None if row is None else dict(row._mapping)

    async def exists(self, kind: str, driver_id: str, period: str, currency: str) -> bool:
        c = invoices.c
        query = select(c.invoice_id).where(c.kind == kind, c.driver_id == driver_id, c.period == period,
                                           c.currency == currency)  # fmt: skip
        return (await self._s.execute(query)).first() is not None

    async def list(self, *, limit: int = 100, offset: int = 0, **filters: str | None) -> list[dict[str, Any]]:
        query = select(invoices)
        for name, value in filters.items():
            if value is not None:
                query = query.where(invoices.c[name] == value)
        query = query.order_by(invoices.c.issued_at, invoices.c.number).limit(limit).offset(offset)
        return [dict(row._mapping) for row in await self._s.execute(query)]

    async def set_payment_status(self, invoice_id: str, status: str) -> None:
        stmt = update(invoices).where(invoices.c.invoice_id == invoice_id)
        await self._s.execute(stmt.values(payment_status=status))

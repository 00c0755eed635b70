"""Payment methods, payments (one per session), the log of every provider call, and refunds."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voltline_billing.adapters.orm import payment_methods, payment_operations, payments, refunds
from voltline_billing.domain.payments import IN_FLIGHT, Action, Outcome, Payment, State

_DOMAIN = ("payment_id", "session_id", "driver_id", "method", "method_id", "currency", "state", "hold_amount", "held",
           "due", "captured", "refunded", "attempt", "provider_ref", "last_error")  # fmt: skip


def _payment(m: Any) -> Payment:
    values = {k: m[k] for k in _DOMAIN}
    values["state"] = State(values["state"])
    return Payment(**values)


class PaymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    # -- payment methods
    async def add_method(self, **values: Any) -> None:
        if values.get("is_default"):
            await self._s.execute(
                update(payment_methods)
                .where(payment_methods.c.driver_id == values["driver_id"])
                .values(is_default=False)
            )
        await self._s.execute(insert(payment_methods).values(**values))

    async def methods(self, driver_id: str) -> list[dict[str, Any]]:
        query = (
            select(payment_methods)
            .where(payment_methods.c.driver_id == driver_id, payment_methods.c.status == "active")
            .order_by(payment_methods.c.created_at, payment_methods.c.method_id)
        )
        return [dict(row._mapping) for row in await self._s.execute(query)]

    async def method(self, method_id: str) -> dict[str, Any] | None:
        row = (await self._s.execute(select(payment_methods).where(payment_methods.c.method_id == method_id))).first()
        return None if row is None else dict(row._mapping)

    async def remove_method(self, method_id: str) -> None:
        await self._s.execute(
            update(payment_methods)
            .where(payment_methods.c.method_id == method_id)
            .values(status="removed", is_default=False)
        )

    async def default_method(self, driver_id: str) -> dict[str, Any] | None:
        methods = await self.methods(driver_id)
        return next((m for m in methods if m["is_default"]), methods[0] if methods else None)

    async def set_default_method(self, driver_id: str, method_id: str) -> None:
        c = payment_methods.c
        await self._s.execute(update(payment_methods).where(c.driver_id == driver_id).values(is_default=False))
        await self._s.execute(update(payment_methods).where(c.method_id == method_id).values(is_default=True))

    # -- payments
    async def add(self, payment: Payment, provider: str | None, now: datetime) -> None:
        values = asdict(payment) | {"state": payment.state.value, "provider": provider}
        await self._s.execute(insert(payments).values(**values, created_at=now, updated_at=now))

    async def get(self, payment_id: str, *, lock: bool = False) -> Payment | None:
        query = select(payments).where(payments.c.payment_id == payment_id)
        row = (await self._s.execute(query.with_for_update() if lock else query)).first()
        return None if row is None else _payment(row._mapping)

    async def by_session(self, session_id: str, *, lock: bool = False) -> Payment | None:
        query = select(payments).where(payments.c.session_id == session_id)
        row = (await self._s.execute(query.with_for_update() if lock else query)).first()
        return None if row is None else _payment(row._mapping)

    async def save(self, payment: Payment, now: datetime, **extra: Any) -> None:
        values = {k: v for k, v in asdict(payment).items() if k not in ("payment_id", "session_id")}
        values |= {"state": payment.state.value, "updated_at": now, **extra}
        await self._s.execute(update(payments).where(payments.c.payment_id == payment.payment_id).values(**values))

    async def row(self, payment_id: str) -> dict[str, Any] | None:
        row = (await self._s.execute(select(payments).where(payments.c.payment_id == payment_id))).first()
        return None if row is None else dict(row._mapping)

    async def rows(self, *, limit: int = 100, offset: int = 0, **filters: str | None) -> list[dict[str, Any]]:
        query = select(payments)
        for name, value in filters.items():
            if value is not None:
                query = query.where(payments.c[name] == value)
        query = query.order_by(payments.c.created_at.desc(), payments.c.payment_id).limit(limit).offset(offset)
        return [dict(row._mapping) for row in await self._s.execute(query)]

    async def actionable(self, limit: int = 100) -> list[str]:
        """Payments a worker should push on: in flight (outcome unknown) or due with a known amount."""
        states = [s.value for s in IN_FLIGHT] + [State.PENDING_HOLD.value]
        query = select(payments.c.payment_id).where(
            (payments.c.state.in_(states)) | ((payments.c.state == State.DUE.value) & payments.c.due.is_not(None))
        )
        return list((await self._s.execute(query.order_by(payments.c.updated_at).limit(limit))).scalars())

    async def postpaid_due(self, driver_id: str, currency: str, before: datetime) -> list[dict[str, Any]]:
        from voltline_billing.adapters.orm import cdrs

        query = (
            select(payments.c.payment_id, cdrs.c.cdr_id, cdrs.c.ended_at)
            .join(cdrs, cdrs.c.session_id == payments.c.session_id)
            .where(
                payments.c.driver_id == driver_id,
                payments.c.method == "postpaid",
                payments.c.state == State.POSTPAID.value,
                payments.c.invoice_id.is_(None),
                payments.c.currency == currency,
                cdrs.c.ended_at < before,
            )
            .order_by(cdrs.c.ended_at)
        )
        return [dict(row._mapping) for row in await self._s.execute(query)]

    async def postpaid_drivers(self, before: datetime) -> list[tuple[str, str]]:
        from voltline_billing.adapters.orm import cdrs

        query = (
            select(payments.c.driver_id, payments.c.currency)
            .join(cdrs, cdrs.c.session_id == payments.c.session_id)
            .where(
                payments.c.method == "postpaid",
                payments.c.state == State.POSTPAID.value,
                payments.c.invoice_id.is_(None),
                cdrs.c.ended_at < before,
            )
            .distinct()
        )
        return [(row[0], row[1]) for row in await self._s.execute(query)]

    async def mark_invoiced(self, payment_ids: list[str], invoice_id: str) -> None:
        if payment_ids:
            stmt = update(payments).where(payments.c.payment_id.in_(payment_ids)).values(invoice_id=invoice_id)
            await self._s.execute(stmt)

    # -- provider call log
    async def log(self, payment_id: str, action: Action, outcome: Outcome, at: datetime) -> None:
        await self._s.execute(
            insert(payment_operations).values(
                payment_id=payment_id, kind=action.kind, idempotency_key=action.idempotency_key, amount=action.amount,
                outcome=outcome.kind, provider_ref=outcome.provider_ref, message=outcome.message, at=at,
            )
        )  # fmt: skip

    async def operations(self, payment_id: str) -> list[dict[str, Any]]:
        query = select(payment_operations).where(payment_operations.c.payment_id == payment_id)
        return [dict(row._mapping) for row in await self._s.execute(query.order_by(payment_operations.c.id))]

    # -- refunds
    async def add_refund(self, **values: Any) -> None:
        await self._s.execute(insert(refunds).values(**values))

    async def refund(self, refund_id: str, *, lock: bool = False) -> dict[str, Any] | None:
        query = select(refunds).where(refunds.c.refund_id == refund_id)
        row = (await self._s.execute(query.with_for_update() if lock else query)).first()
        return None if row is None else dict(row._mapping)

    async def save_refund(self, refund_id: str, **values: Any) -> None:
        await self._s.execute(update(refunds).where(refunds.c.refund_id == refund_id).values(**values))

    async def refunds(self, *, payment_id: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        query = select(refunds)
        if payment_id is not None:
            query = query.where(refunds.c.payment_id == payment_id)
        if state is not None:
            query = query.where(refunds.c.state == state)
        return [dict(row._mapping) for row in await self._s.execute(query.order_by(refunds.c.created_at))]

    async def pending_refund_total(self, payment_id: str) -> Decimal:
        rows = await self.refunds(payment_id=payment_id, state="pending")
        return sum((row["amount"] for row in rows), Decimal(0))

"""Guest payments (domain/adhoc.py) in the adhoc_payments table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voltline_billing.adapters.orm import adhoc_payments, billing_sessions
from voltline_billing.domain.adhoc import AdhocState, GuestPayment

_FIELDS = ("adhoc_id", "station_id", "evse_id", "currency", "hold_amount", "id_token", "card_token", "card_label",
           "email", "state", "created_at", "provider_ref", "session_id", "message")  # fmt: skip
_CHANGING = ("state", "provider_ref", "session_id", "message")


def _guest(m: Any) -> GuestPayment:
    values = {k: m[k] for k in _FIELDS}
    values["state"] = AdhocState(values["state"])
    return GuestPayment(**values)


class AdhocRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def _one(self, query: Select[Any], lock: bool) -> GuestPayment | None:
        row = (await self._s.execute(query.with_for_update() if lock else query)).first()
        return None if row is None else _guest(row._mapping)

    async def add(self, guest: GuestPayment) -> None:
        values = {k: getattr(guest, k) for k in _FIELDS}
        await self._s.execute(insert(adhoc_payments).values(**values, updated_at=guest.created_at))

    async def get(self, adhoc_id: str, *, lock: bool = False) -> GuestPayment | None:
        return await self._one(select(adhoc_payments).where(adhoc_payments.c.adhoc_id == adhoc_id), lock)

    async def by_token(self, id_token: str, *, lock: bool = False) -> GuestPayment | None:
        return await self._one(select(adhoc_payments).where(adhoc_payments.c.id_token == id_token), lock)

    async def by_session(self, session_id: str) -> GuestPayment | None:
        return await self._one(select(adhoc_payments).where(adhoc_payments.c.session_id == session_id), False)

    async def save(self, guest: GuestPayment, now: datetime) -> None:
        values = {k: getattr(guest, k) for k in _CHANGING}
        await self._s.execute(
            update(adhoc_payments).where(adhoc_payments.c.adhoc_id == guest.adhoc_id).values(**values, updated_at=now)
        )

    async def evse_busy(self, station_id: str, evse_id: int) -> bool:
        c = billing_sessions.c
        at_evse = or_(c.evse_id == evse_id, and_(c.evse_id.is_(None), c.connector_id == evse_id))
        query = select(c.session_id).where(c.station_id == station_id, c.status == "active", at_evse).limit(1)
        return (await self._s.execute(query)).first() is not None

    async def starting_before(self, before: datetime, limit: int = 100) -> list[str]:
        query = (
            select(adhoc_payments.c.adhoc_id)
            .where(adhoc_payments.c.state == AdhocState.STARTING.value, adhoc_payments.c.updated_at < before)
            .order_by(adhoc_payments.c.updated_at)
            .limit(limit)
        )
        return list((await self._s.execute(query)).scalars())

    async def mark_receipt_sent(self, adhoc_id: str, now: datetime) -> bool:
        result = await self._s.execute(
            update(adhoc_payments)
            .where(adhoc_payments.c.adhoc_id == adhoc_id, adhoc_payments.c.receipt_sent_at.is_(None))
            .values(receipt_sent_at=now)
        )
        return bool(getattr(result, "rowcount", 0))

"""CDRs in the database: written once per session (the unique session_id is the last line of defence)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from voltline_billing.adapters.orm import cdrs, payments
from voltline_billing.domain.cdr import Cdr
from voltline_billing.domain.priced import Line, PricedSession, VatAmount


def _to_row(cdr: Cdr) -> dict[str, Any]:
    p = cdr.priced
    return {
        "cdr_id": cdr.cdr_id,
        "session_id": cdr.session_id,
        "station_id": cdr.station_id,
        "evse_id": cdr.evse_id,
        "connector_id": cdr.connector_id,
        "id_token": cdr.id_token,
        "driver_id": cdr.driver_id,
        "started_at": cdr.started_at,
        "ended_at": cdr.ended_at,
        "stop_reason": cdr.stop_reason,
        "energy_wh": p.energy_wh,
        "duration_s": p.duration_s,
        "charging_s": p.charging_s,
        "idle_s": p.idle_s,
        "tariff_id": p.tariff_id or None,
        "tariff_version": p.tariff_version if p.tariff_id else None,
        "tariff": cdr.tariff,
        "currency": p.currency,
        "lines": [line.to_json() for line in p.lines],
        "vat": [{"vat_percent": str(v.vat_percent), "taxable": str(v.taxable), "vat": str(v.vat)} for v in p.vat],
        "total_excl_vat": p.total_excl_vat,
        "total_vat": p.total_vat,
        "total_incl_vat": p.total_incl_vat,
        "subscription_id": cdr.subscription_id,
        "included_wh_used": p.included_wh_used,
        "created_at": cdr.created_at,
    }


def _from_row(row: Row[Any]) -> Cdr:
    m = row._mapping
    priced = PricedSession(
        tariff_id=m["tariff_id"] or "",
        tariff_version=m["tariff_version"] or 0,
        currency=m["currency"],
        lines=tuple(Line.from_json(line) for line in m["lines"]),
        vat=tuple(VatAmount(Decimal(v["vat_percent"]), Decimal(v["taxable"]), Decimal(v["vat"])) for v in m["vat"]),
        total_excl_vat=m["total_excl_vat"],
        total_vat=m["total_vat"],
        total_incl_vat=m["total_incl_vat"],
        energy_wh=m["energy_wh"],
        duration_s=m["duration_s"],
        charging_s=m["charging_s"],
        idle_s=m["idle_s"],
        included_wh_used=m["included_wh_used"],
    )
    return Cdr(
        m["cdr_id"], m["session_id"], m["station_id"], m["evse_id"], m["connector_id"], m["id_token"],
        m["driver_id"], m["started_at"], m["ended_at"], m["stop_reason"], priced, m["tariff"],
        m["subscription_id"], m["created_at"],
    )  # fmt: skip


class CdrRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, cdr: Cdr) -> None:
        await self._s.execute(insert(cdrs).values(**_to_row(cdr)))

    async def by_session(self, session_id: str) -> Cdr | None:
        row = (await self._s.execute(select(cdrs).where(cdrs.c.session_id == session_id))).first()
        return None if row is None else _from_row(row)

    async def get(self, cdr_id: str) -> Cdr | None:
        row = (await self._s.execute(select(cdrs).where(cdrs.c.cdr_id == cdr_id))).first()
        return None if row is None else _from_row(row)

    async def set_driver(self, session_id: str, driver_id: str) -> None:
        await self._s.execute(
            update(cdrs).where(cdrs.c.session_id == session_id, cdrs.c.driver_id.is_(None)).values(driver_id=driver_id)
        )

    async def list(
        self,
        *,
        session_id: str | None = None,
        station_id: str | None = None,
        driver_id: str | None = None,
        payment_state: str | None = None,
        ended_from: datetime | None = None,
        ended_before: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[tuple[Cdr, str | None]]:
        """CDRs with their payment state, newest first."""
        query = select(cdrs, payments.c.state.label("payment_state")).outerjoin(
            payments, payments.c.session_id == cdrs.c.session_id
        )
        for column, value in ((cdrs.c.session_id, session_id), (cdrs.c.station_id, station_id),
                              (cdrs.c.driver_id, driver_id), (payments.c.state, payment_state)):  # fmt: skip
            if value is not None:
                query = query.where(column == value)
        if ended_from is not None:
            query = query.where(cdrs.c.ended_at >= ended_from)
        if ended_before is not None:
            query = query.where(cdrs.c.ended_at < ended_before)
        query = query.order_by(cdrs.c.ended_at.desc(), cdrs.c.cdr_id).limit(limit).offset(offset)
        return [(_from_row(row), row._mapping["payment_state"]) for row in await self._s.execute(query)]

    async def included_wh_used(self, subscription_id: str, month_start: datetime, month_end: datetime) -> int:
        query = select(cdrs.c.included_wh_used).where(
            cdrs.c.subscription_id == subscription_id, cdrs.c.started_at >= month_start, cdrs.c.started_at < month_end
        )
        return sum((await self._s.execute(query)).scalars())

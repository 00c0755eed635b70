"""Receipts' numbers (one per CDR, kept once issued) and the station addresses printed on receipts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voltline_billing.adapters.orm import driver_billing_details, receipts, station_addresses
from voltline_billing.domain.receipts import BillingDetails, IssuedReceipt


class ReceiptRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def issued(self, cdr_id: str) -> IssuedReceipt | None:
        row = (await self._s.execute(select(receipts).where(receipts.c.cdr_id == cdr_id))).first()
        return None if row is None else IssuedReceipt(**row._mapping)

    async def add(self, receipt: IssuedReceipt) -> None:
        values = {"cdr_id": receipt.cdr_id, "number": receipt.number, "driver_id": receipt.driver_id,
                  "issued_at": receipt.issued_at, "buyer": receipt.buyer}  # fmt: skip
        await self._s.execute(insert(receipts).values(**values))

    async def station_address(self, station_id: str) -> str | None:
        query = select(station_addresses.c.address).where(station_addresses.c.station_id == station_id)
        return (await self._s.execute(query)).scalar_one_or_none()

    async def set_station_address(self, station_id: str, address: str, now: datetime) -> None:
        c = station_addresses.c
        done = await self._s.execute(
            update(station_addresses).where(c.station_id == station_id).values(address=address, updated_at=now)
        )
        if not done.rowcount:  # type: ignore[attr-defined]
            await self._s.execute(insert(station_addresses).values(station_id=station_id, address=address,
                                                                    updated_at=now))  # fmt: skip

    async def billing_details(self, driver_id: str) -> BillingDetails | None:
        c = driver_billing_details.c
        row = (await self._s.execute(select(c.name, c.address, c.vat_id).where(c.driver_id == driver_id))).first()
        return None if row is None else BillingDetails(**row._mapping)

    async def set_billing_details(self, driver_id: str, details: BillingDetails, now: datetime) -> None:
        c = driver_billing_details.c
        values = details.to_json() | {"updated_at": now}
        done = await self._s.execute(update(driver_billing_details).where(c.driver_id == driver_id).values(**values))
        if not done.rowcount:  # type: ignore[attr-defined]
            await self._s.execute(insert(driver_billing_details).values(driver_id=driver_id, **values))

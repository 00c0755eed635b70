"""What billing remembers per session to show its cost on the station: the station's transaction id and
protocol (from session.started), and when the running cost was last announced (the rate limit)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Integer, String, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from voltline_store import UTCDateTime

from voltline_billing.adapters.orm import metadata
from voltline_billing.adapters.unit_of_work import SqlBillingUnitOfWork

session_costs = Table(
    "session_costs",
    metadata,
    Column("session_id", String(128), primary_key=True),
    Column("station_id", String(48), nullable=False),
    Column("evse_id", Integer, nullable=True),
    Column("connector_id", Integer, nullable=True),
    Column("transaction_id", String(64), nullable=True),
    Column("ocpp_version", String(16), nullable=True),
    Column("id_token", String(64), nullable=True),
    Column("driver_id", String(64), nullable=True),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("announced_at", UTCDateTime(), nullable=True),  # the last running cost published
    Column("final_at", UTCDateTime(), nullable=True),  # the final cost published (after the CDR)
)


class CostRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(self, session_id: str) -> dict[str, Any] | None:
        row = (await self._s.execute(select(session_costs).where(session_costs.c.session_id == session_id))).first()
        return None if row is None else dict(row._mapping)

    async def add(self, **values: Any) -> None:
        await self._s.execute(insert(session_costs).values(**values))

    async def update(self, session_id: str, **values: Any) -> None:
        await self._s.execute(update(session_costs).where(session_costs.c.session_id == session_id).values(**values))


class SqlCostUnitOfWork(SqlBillingUnitOfWork):
    """The billing unit of work plus the cost notices (service_layer.costs.CostUnitOfWork)."""

    costs: CostRepository

    def attach_repositories(self) -> None:
        super().attach_repositories()
        self.costs = CostRepository(self.session)

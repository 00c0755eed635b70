"""What billing remembers per session to show its cost on the station: the station's transaction id and
protocol (from session.started), and when the running cost was last announced (the rate limit)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Column, Integer, String, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from voltline_store import UTCDateTime, current_batch

from voltline_billing.adapters.orm import metadata
from voltline_billing.adapters.tariff_repository import prefetch_session_rows, remember_added
from voltline_billing.adapters.unit_of_work import Repository, SqlBillingUnitOfWork

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


_ROWS = "billing.session_costs.rows"  # session id -> its row as this batch last read or wrote it


class CostRepository:
    """Inside a consumer's batch, a session's row is read once and kept up to date by this repository's own
    writes (the cost consumer reads it for every session.updated; a batch holds many of the same session)."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    def _rows(self) -> dict[str, dict[str, Any] | None] | None:
        batch = current_batch()
        if batch is None or batch.session is not self._s:
            return None
        rows: dict[str, dict[str, Any] | None] = batch.memo.setdefault(_ROWS, {})
        return rows

    async def get(self, session_id: str) -> dict[str, Any] | None:
        rows = self._rows()
        if rows is not None and session_id not in rows:
            await self._prefetch(rows, session_id)
        if rows is not None and session_id in rows:
            known = rows[session_id]
            return None if known is None else dict(known)
        row = (await self._s.execute(select(session_costs).where(session_costs.c.session_id == session_id))).first()
        found = None if row is None else dict(row._mapping)
        if rows is not None:
            rows[session_id] = None if found is None else dict(found)
        return found

    async def _prefetch(self, rows: dict[str, dict[str, Any] | None], session_id: str) -> None:
        """The rows of every session the batch's events name, in one query (once per batch: later misses read
        one row each), as billing's SessionRepository does."""
        batch = current_batch()
        assert batch is not None
        await prefetch_session_rows(self._s, batch, _ROWS, session_costs, rows, session_id)

    async def add(self, **values: Any) -> None:
        await self._s.execute(insert(session_costs).values(**values))
        rows = self._rows()
        if rows is not None:
            remember_added(rows, session_costs, values)

    async def update(self, session_id: str, **values: Any) -> None:
        await self._s.execute(update(session_costs).where(session_costs.c.session_id == session_id).values(**values))
        rows = self._rows()
        if rows is not None and (known := rows.get(session_id)) is not None:
            known.update(values)

    def once_committed(self, key: str, callback: Callable[[], None]) -> None:
        """Inside a consumer's batch, when the batch commits; otherwise now (the caller has committed)."""
        batch = current_batch()
        if batch is not None and batch.session is self._s:
            batch.after_commit(("session_costs", key), callback)
        else:
            callback()


class SqlCostUnitOfWork(SqlBillingUnitOfWork):
    """The billing unit of work plus the cost notices (service_layer.costs.CostUnitOfWork)."""

    costs = Repository(CostRepository)

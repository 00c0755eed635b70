"""Active sessions and when their energy last grew (health_sessions table)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voltline_diagnostics.adapters.health_tables import sessions


class SessionProgressRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, session_id: str) -> dict[str, Any] | None:
        row = (await self.session.execute(select(sessions).where(sessions.c.session_id == session_id))).first()
        return dict(row._mapping) if row else None

    async def add(self, **values: Any) -> None:
        await self.session.execute(insert(sessions).values(**values))

    async def save(self, session_id: str, **values: Any) -> None:
        await self.session.execute(update(sessions).where(sessions.c.session_id == session_id).values(**values))

    async def remove(self, session_id: str) -> None:
        await self.session.execute(delete(sessions).where(sessions.c.session_id == session_id))

    async def charging_without_progress_since(self, cutoff: datetime) -> list[dict[str, Any]]:
        """Locked until the caller's commit, skipping rows a consumer batch is changing (PostgreSQL): read
        without a lock, a session whose progress a batch was committing still looked stuck, and the monitor's
        update of its alert then overwrote the batch's resolution (the alert stayed open after the energy grew).
        A session skipped now is judged again at the next round."""
        rows = await self.session.execute(
            select(sessions)
            .where(sessions.c.charging_state == "charging", sessions.c.progress_at < cutoff)
            .with_for_update(skip_locked=True)
        )
        return [dict(r._mapping) for r in rows]

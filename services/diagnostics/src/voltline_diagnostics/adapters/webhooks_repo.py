"""Webhook subscriptions and their delivery log (webhooks, webhook_deliveries tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from voltline_store import rowcount

from voltline_diagnostics.adapters.health_tables import deliveries, webhooks


class WebhookRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, **values: Any) -> None:
        await self.session.execute(insert(webhooks).values(**values))

    async def get(self, webhook_id: str) -> dict[str, Any] | None:
        row = (await self.session.execute(select(webhooks).where(webhooks.c.webhook_id == webhook_id))).first()
        return dict(row._mapping) if row else None

    async def all(self, *, active_only: bool = False) -> list[dict[str, Any]]:
        query = select(webhooks).order_by(webhooks.c.created_at)
        if active_only:
            query = query.where(webhooks.c.active.is_(True))
        return [dict(r._mapping) for r in await self.session.execute(query)]

    async def deactivate(self, webhook_id: str) -> bool:
        result = await self.session.execute(
            update(webhooks).where(webhooks.c.webhook_id == webhook_id).values(active=False)
        )
        return bool(rowcount(result))

    async def enqueue(self, **values: Any) -> None:
        await self.session.execute(insert(deliveries).values(**values))

    async def due(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        rows = await self.session.execute(
            select(deliveries)
            .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now)
            .order_by(deliveries.c.next_attempt_at)
            .limit(limit)
        )
        return [dict(r._mapping) for r in rows]

    async def claim(self, delivery_id: str, seen_next: datetime, lease_until: datetime) -> bool:
        """Take a due delivery for one attempt (another instance that read it too loses the race)."""
        result = await self.session.execute(
            update(deliveries)
            .where(
                deliveries.c.delivery_id == delivery_id,
                deliveries.c.status == "pending",
                deliveries.c.next_attempt_at == seen_next,
            )
            .values(next_attempt_at=lease_until)
        )
        return bool(rowcount(result))

    async def record(self, delivery_id: str, **values: Any) -> None:
        await self.session.execute(update(deliveries).where(deliveries.c.delivery_id == delivery_id).values(**values))

    async def log(self, webhook_id: str, limit: int = 200) -> list[dict[str, Any]]:
        rows = await self.session.execute(
            select(deliveries)
            .where(deliveries.c.webhook_id == webhook_id)
            .order_by(deliveries.c.created_at.desc())
            .limit(limit)
        )
        return [dict(r._mapping) for r in rows]

"""Security events: stored from SecurityEventNotification (2.x; 1.6 security extension) and listed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from voltline_chassis.logging import get_logger
from voltline_chassis.paging import DEFAULT_LIMIT, Limit, Offset, fetch_size, next_offset
from voltline_chassis.security import require_role
from voltline_events import Envelope

from voltline_diagnostics.adapters.security_events import SecurityEvent, SecurityEvents
from voltline_diagnostics.entrypoints.maintenance_consumers import parse_time

log = get_logger(__name__)


class SecurityEventOut(BaseModel):
    event_id: str
    station_id: str
    type: str
    tech_info: str | None
    occurred_at: datetime
    received_at: datetime


class SecurityEventList(BaseModel):
    items: list[SecurityEventOut]
    next_offset: int | None = Field(default=None, description="Offset of the next page; null on the last one.")


def security_event_recorder(
    sessions: async_sessionmaker[AsyncSession], clock: Callable[[], datetime]
) -> Callable[[str, str, dict[str, Any], Envelope], Any]:
    async def record(station_id: str, _action: str, payload: dict[str, Any], envelope: Envelope) -> None:
        kind = str(payload.get("type") or "Unknown")[:64]
        event = SecurityEvent(
            event_id=str(envelope.event_id),
            station_id=station_id,
            type=kind,
            tech_info=payload.get("techInfo") if isinstance(payload.get("techInfo"), str) else None,
            occurred_at=parse_time(payload.get("timestamp"), envelope.time),
            received_at=clock(),
        )
        async with sessions() as db:
            await SecurityEvents(db).add(event)
            await db.commit()
        log.warning("station security event", station_id=station_id, type=kind)

    return record


def build_security_router(sessions: async_sessionmaker[AsyncSession]) -> APIRouter:
    router = APIRouter(tags=["maintenance"])

    @router.get("/security-events", dependencies=[Depends(require_role("viewer"))])
    async def list_security_events(
        station_id: str | None = None,
        limit: Limit = DEFAULT_LIMIT,
        offset: Offset = 0,
    ) -> SecurityEventList:
        async with sessions() as db:
            found = await SecurityEvents(db).find(station_id, fetch_size(limit), offset)
        return SecurityEventList(
            items=[SecurityEventOut(**e.__dict__) for e in found[:limit]], next_offset=next_offset(found, limit, offset)
        )

    return router

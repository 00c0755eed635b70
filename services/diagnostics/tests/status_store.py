"""A migrated diagnostics store with the consumer's handler table and batch scope over it (no tests in here):
what the status batch and monitor tests drive the handlers with, one event at a time or in batches."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voltline_diagnostics.adapters.status_batch import PrefetchingBatch
from voltline_diagnostics.adapters.unit_of_work import SqlDiagnosticsUnitOfWork
from voltline_diagnostics.entrypoints.consumers import build_dispatcher
from voltline_diagnostics.service_layer.context import CONSUMER, HealthContext
from voltline_events import Envelope, Topics
from voltline_store import TransactionBatch, create_engine, run_migrations, session_factory

__all__ = ["MIGRATIONS", "T0", "Store", "open_store"]

MIGRATIONS = Path(__file__).resolve().parents[1] / "src" / "voltline_diagnostics" / "migrations"
T0 = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)


@dataclass
class Store:
    engine: Any
    sessions: Any  # the units of work's session factory (a batch scope of it is joined by them)
    ctx: HealthContext
    dispatch: Callable[[Envelope], Awaitable[None]]  # one transaction per event (outside a batch)
    scope: PrefetchingBatch  # a batch as the consumer opens it


@asynccontextmanager
async def open_store(url: str) -> AsyncIterator[Store]:
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    sessions = session_factory(engine)
    ctx = HealthContext(
        uow=lambda: SqlDiagnosticsUnitOfWork(sessions),
        topics=Topics("t."),
        source="diagnostics/test",
        clock=lambda: T0,
        dialect=engine.dialect.name,
    )
    scope = PrefetchingBatch(TransactionBatch(sessions, inbox_consumer=CONSUMER))
    try:
        yield Store(engine, sessions, ctx, build_dispatcher(ctx), scope)
    finally:
        await engine.dispose()

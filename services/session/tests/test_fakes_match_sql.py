"""The session fakes are faithful: random station histories give the same sessions and events over the
in-memory fakes (session_store_fakes) as over the SQL store (SQLite), event by event.

The use-case tests (test_use_cases) prove the rules on the fakes; this proves that what they prove holds
for the real repositories too, wherever the fakes could drift from the SQL (filters, orderings, the
unique keys that drop a resent reading or seqNo, the doubt and suspect updates).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from session_store_fakes import FakeSessionUnitOfWork, empty_tables
from test_batch_equivalence import MIGRATIONS, T0, history, step
from voltline_devinfra.fakes import FakeStore
from voltline_events import Topics
from voltline_session.adapters.unit_of_work import SqlSessionUnitOfWork
from voltline_session.entrypoints.consumers import build_dispatcher
from voltline_session.service_layer.context import SessionContext
from voltline_session.service_layer.ports import SessionFilter
from voltline_store import create_engine, outbox_table, run_migrations, session_factory


def _context(uow: Any) -> SessionContext:
    ticks, ids = itertools.count(), itertools.count()
    return SessionContext(
        uow=uow,
        topics=Topics(""),
        source="session-test",
        clock=lambda: T0 + timedelta(hours=2, seconds=20 * next(ticks)),
        new_id=lambda: f"session-{next(ids)}",
    )


async def _run(ctx: SessionContext, steps: list[tuple[Any, ...]]) -> list[Any]:
    handle = build_dispatcher(ctx)
    for envelope in history("CP", steps):
        await handle(envelope)
    async with ctx.uow() as uow:
        return sorted(await uow.sessions.list(SessionFilter(), limit=1000, offset=0), key=lambda s: s.session_id)


async def over_fakes(steps: list[tuple[Any, ...]]) -> tuple[list[Any], list[Any]]:
    store = FakeStore(empty_tables())
    found = await _run(_context(lambda: FakeSessionUnitOfWork(store)), steps)
    envelopes = [json.loads(p.envelope.model_dump_json()) for p in store.published]
    events = [(e.get("session_id"), e["type"], e["payload"]) for e in envelopes]
    return found, events


async def over_sql(url: str, steps: list[tuple[Any, ...]]) -> tuple[list[Any], list[Any]]:
    engine = create_engine(url)
    factory = session_factory(engine)
    try:
        found = await _run(_context(lambda: SqlSessionUnitOfWork(factory)), steps)
        async with factory() as db:
            rows = (await db.execute(outbox_table.select().order_by(outbox_table.c.id))).all()
        envelopes = [json.loads(row.value) for row in rows]
        events = [(e.get("session_id"), e["type"], e["payload"]) for e in envelopes]
        return found, events
    finally:
        await engine.dispose()


@pytest.fixture
def fresh_store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A new migrated SQLite file for every example."""

    def make() -> str:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fakes') / 'session.db'}"
        asyncio.run(run_migrations(url, MIGRATIONS))
        return url

    return make


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=30))
def test_the_fakes_give_the_same_sessions_and_events_as_the_sql_store(fresh_store: Any, steps: list[Any]) -> None:
    starts = [("tx", n, 0, "started", 0, 0, None) for n in (0, 1)]
    fake_sessions, fake_events = asyncio.run(over_fakes(starts + steps))
    sql_sessions, sql_events = asyncio.run(over_sql(fresh_store(), starts + steps))
    assert fake_sessions == sql_sessions
    assert fake_events == sql_events

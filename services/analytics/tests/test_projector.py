"""The store's figures do not depend on delivery: interleaving the streams differently, redelivering, or a
stale revision arriving after a newer one all give the same buckets (SQLite, no broker needed)."""

from __future__ import annotations

import random
import secrets
import sqlite3
from datetime import timedelta
from typing import Any

import pytest
from analytics_testing import Publisher, publish_known_day
from sqlalchemy import event, select
from voltline_analytics.adapters import orm
from voltline_analytics.adapters.projection_store import StateCache, apply
from voltline_analytics.bootstrap import MIGRATIONS
from voltline_analytics.service_layer.projector import prepare
from voltline_events import Envelope, Topics
from voltline_store import create_engine, run_migrations, session_factory

LATENESS = timedelta(days=7)


class _Recorder(Publisher):
    """Collects what publish_known_day would send, per topic, in order."""

    def __init__(self) -> None:
        self.topics = Topics("")
        self.producer = self  # type: ignore[assignment]
        self.log: dict[str, list[Envelope]] = {}

    async def publish(self, topic: str, envelope: Envelope, key: bytes | None = None) -> None:
        self.log.setdefault(f"{topic}|{envelope.station_id}", []).append(envelope)


async def _buckets(
    url: str, streams: dict[str, list[Envelope]], seed: int, batch: int, ahead: bool = False
) -> list[tuple[Any, ...]]:
    """Apply the streams interleaved at random (each stream in its order), in batches of `batch` (`ahead`:
    each batch prepared first, as the batch worker prepares the next fetch while one is written)."""
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    rng = random.Random(seed)
    queues = {k: list(v) for k, v in streams.items()}
    order: list[Envelope] = []
    while any(queues.values()):
        key = rng.choice([k for k, q in queues.items() if q])
        order.append(queues[key].pop(0))
        if rng.random() < 0.2:  # a redelivery
            order.append(order[-1])
    sessions = session_factory(engine)
    cache = StateCache() if seed % 2 else None  # the worker's live state kept between batches, or read each time
    for i in range(0, len(order), batch):
        chunk = order[i : i + batch]
        envelopes = await prepare(chunk, step=2) if ahead else chunk
        async with sessions() as session, session.begin():
            await apply(session, envelopes, LATENESS, cache)
    async with sessions() as session:
        rows = [tuple(r) for r in await session.execute(select(orm.buckets).order_by(*orm.buckets.primary_key))]
    await engine.dispose()
    return rows


async def test_figures_do_not_depend_on_interleaving_batching_or_redelivery(tmp_path: Any) -> None:
    recorder = _Recorder()
    await publish_known_day(recorder)
    first = await _buckets(f"sqlite+aiosqlite:///{tmp_path}/a.db", recorder.log, seed=1, batch=1)
    assert first
    for seed, batch, ahead in ((2, 7, False), (3, 100, False), (4, 3, False), (5, 100, True), (6, 5, True)):
        url = f"sqlite+aiosqlite:///{tmp_path}/{seed}.db"
        assert await _buckets(url, recorder.log, seed, batch, ahead) == first, (seed, batch, ahead)
    columns = [c.name for c in orm.buckets.columns]
    day = {c: v for c, v in zip(columns, _network_day(first), strict=True)}
    # money is stored in integer micro-units
    assert (day["revenue_incl_vat"], day["refunds_incl_vat"], day["cdrs"]) == (22_610_000, 4_760_000, 3)


async def test_postgresql_gives_the_figures_of_sqlite(tmp_path: Any, postgres: Any) -> None:
    """PostgreSQL writes a batch through arrays (`INSERT .. SELECT FROM unnest`) and counts drivers with one
    upsert that returns the new counts: the same buckets as SQLite's path, with corrections, redeliveries and
    batches small enough that stored facts are superseded and driver counts go down and away."""
    recorder = _Recorder()
    await publish_known_day(recorder)
    sqlite = await _buckets(f"sqlite+aiosqlite:///{tmp_path}/ref.db", recorder.log, seed=1, batch=1)
    for seed, batch, ahead in ((2, 3, False), (3, 100, True)):
        url = str(postgres.create_database(f"analytics_{secrets.token_hex(4)}"))
        assert await _buckets(url, recorder.log, seed, batch, ahead) == sqlite, (seed, batch)


def _network_day(rows: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """The EUR row of the known day (money rows hold no session counts: those are in the '' row)."""
    [row] = [r for r in rows if r[:3] == ("network", "", "day") and r[3].day == 2 and r[4] == "EUR"]
    return row


async def test_a_stale_revision_never_replaces_a_newer_one(tmp_path: Any) -> None:
    recorder = _Recorder()
    await publish_known_day(recorder)
    billing_a = recorder.log["voltline.billing.events.v1|CP-A"]
    rev1, rev2 = (e for e in billing_a if e.payload.get("session_id") == "S1")
    swapped = {k: v for k, v in recorder.log.items() if k != "voltline.billing.events.v1|CP-A"}
    swapped["voltline.billing.events.v1|CP-A"] = [rev2, rev1] + [e for e in billing_a if e not in (rev1, rev2)]
    columns = [c.name for c in orm.buckets.columns]
    for ahead in (False, True):
        rows = await _buckets(f"sqlite+aiosqlite:///{tmp_path}/s{ahead}.db", swapped, seed=5, batch=4, ahead=ahead)
        day = {c: v for c, v in zip(columns, _network_day(rows), strict=True)}
        assert day["revenue_incl_vat"] == 22_610_000  # 8.33 from revision 2, not 9.52 from revision 1


async def test_a_prepared_batch_fails_where_the_event_would_have_failed(tmp_path: Any) -> None:
    """A translation that fails while the next batch is prepared fails that batch when it is applied (so the
    worker isolates and parks the event), and applies nothing of it."""
    recorder = _Recorder()
    await publish_known_day(recorder)
    good = [e for stream in recorder.log.values() for e in stream if e.type == "session.ended"]
    bad = good[0].model_copy(update={"payload": {**good[0].payload, "energy_wh": -5}})
    url = f"sqlite+aiosqlite:///{tmp_path}/bad.db"
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    sessions = session_factory(engine)
    batch = await prepare([*good[1:], bad])
    assert isinstance(batch.changes[-1], ValueError)
    with pytest.raises(ValueError, match="expected >= 0"):
        async with sessions() as session, session.begin():
            await apply(session, batch, LATENESS, StateCache())
    async with sessions() as session:
        assert (await session.execute(select(orm.facts.c.fact_key))).scalars().all() == []
    async with sessions() as session, session.begin():
        outcome = await apply(session, await prepare(good[1:]), LATENESS, StateCache())
    await engine.dispose()
    assert (outcome.applied, outcome.late) == (len(good) - 2, 1)  # the known day holds one late session


async def test_applying_a_batch_seeks_by_index_and_never_scans_the_store(tmp_path: Any) -> None:
    """What a batch reads and changes is found by index, the driver counts by their whole primary key: a read
    that scans a table, or seeks by one column and filters the rest, costs more as the store grows (the
    driver counts did: `driver_key IN (..) AND bucket_start IN (..)` walked each driver's whole history)."""
    recorder = _Recorder()
    await publish_known_day(recorder)
    path = tmp_path / "plans.db"
    url = f"sqlite+aiosqlite:///{path}"
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    seen: list[tuple[str, Any]] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _record(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            seen.append((statement, params[0] if executemany else params))

    order = [e for stream in recorder.log.values() for e in stream]
    sessions = session_factory(engine)
    for i in range(0, len(order), 4):  # small batches: stored facts get superseded, driver counts change
        async with sessions() as session, session.begin():
            await apply(session, order[i : i + 4], LATENESS, StateCache())
    await engine.dispose()
    assert any("bucket_drivers" in s for s, _ in seen)
    store = {t.name for t in orm.metadata.sorted_tables}
    with sqlite3.connect(path) as db:
        for statement, params in seen:
            plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {statement}", params or ())]
            scans = [p for p in plan if p.startswith("SCAN ") and p.split()[1] in store]
            assert not scans, (statement, plan)
            drivers = [p for p in plan if "bucket_drivers" in p]
            assert all("driver_key=?" in p and "bucket_start=?" in p and "scope=?" in p for p in drivers), plan

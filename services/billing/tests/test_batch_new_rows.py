"""A batch's new session and cost rows are kept as stored, not read back: the same rows a SELECT gives, on both
stores, and the same sessions, costs, CDRs, payments and announcements as one event at a time."""

from __future__ import annotations

import contextlib
import json
import random
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from billing_testing import ended, started, updated
from test_batch_sessions import billing, in_batches, outcome
from voltline_billing.adapters.cost_repository import CostRepository, SqlCostUnitOfWork, session_costs
from voltline_billing.adapters.orm import billing_sessions
from voltline_billing.adapters.tariff_repository import SessionRepository, row_as_stored
from voltline_billing.bootstrap import MIGRATIONS
from voltline_billing.entrypoints.consumers import build_dispatcher
from voltline_billing.service_layer.costs import CostsContext
from voltline_billing.service_layer.later import Later
from voltline_events import Envelope
from voltline_store import TransactionBatch, create_engine, run_migrations, session_factory

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Fresh, empty stores of one kind: SQLite files, PostgreSQL databases (dropped afterwards)."""
    made: list[str] = []

    def new() -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        if request.param == "sqlite":
            return f"sqlite+aiosqlite:///{tmp_path}/{name}.db"
        made.append(name)
        url: str = request.getfixturevalue("postgres").create_database(name)
        return url

    yield new
    for name in made:
        with contextlib.suppress(Exception):
            request.getfixturevalue("postgres").drop_database(name)


def _when(rnd: random.Random) -> datetime:
    """An instant in a random zone, with microseconds: stored in UTC, read back in UTC."""
    zone = timezone(timedelta(minutes=rnd.choice([-600, -330, 0, 60, 120, 345, 840])))
    return (T0 + timedelta(seconds=rnd.randint(0, 10**6), microseconds=rnd.randint(0, 999_999))).astimezone(zone)


def _maybe(rnd: random.Random, value: Any) -> Any:
    return None if rnd.random() < 0.3 else value


def _session_values(rnd: random.Random, n: int) -> dict[str, Any]:
    values = {"session_id": f"S-{n}", "station_id": f"CP-{rnd.randint(0, 9)}", "started_at": _when(rnd),
              "status": rnd.choice(["active", "ended"]), "evse_id": _maybe(rnd, rnd.randint(0, 3)),
              "connector_id": _maybe(rnd, rnd.randint(0, 3)), "id_token": _maybe(rnd, f"TAG-{n}"),
              "driver_id": _maybe(rnd, f"D-{n}"), "tariff_id": _maybe(rnd, "STD"),
              "tariff_version": _maybe(rnd, rnd.randint(1, 5))}  # fmt: skip
    if rnd.random() < 0.5:
        values["energy_wh"] = rnd.randint(0, 10**9)  # else the column's default
    return values


def _cost_values(rnd: random.Random, n: int) -> dict[str, Any]:
    return {"session_id": f"S-{n}", "station_id": f"CP-{rnd.randint(0, 9)}", "started_at": _when(rnd),
            "evse_id": _maybe(rnd, 1), "connector_id": _maybe(rnd, 2), "transaction_id": _maybe(rnd, str(n)),
            "ocpp_version": _maybe(rnd, rnd.choice(["ocpp1.6", "ocpp2.0.1"])), "id_token": _maybe(rnd, "TAG"),
            "driver_id": _maybe(rnd, f"D-{n}")}  # fmt: skip


async def test_a_batchs_new_rows_are_the_rows_a_select_reads_back_and_cost_no_read(
    new_store: Callable[[], str],
) -> None:
    store_url = new_store()
    await run_migrations(store_url, MIGRATIONS)
    engine = create_engine(store_url)
    factory = session_factory(engine)
    rnd = random.Random(12)
    selects: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM" in statement.upper():
            selects.append(statement)

    try:
        cases = [(_session_values(rnd, n), _cost_values(rnd, n)) for n in range(40)]
        kept: dict[str, tuple[dict[str, Any] | None, dict[str, Any] | None]] = {}
        envelopes = [updated(f"S-{n}", "CP-0", T0, 1) for n in range(40)]  # the batch names every session
        async with TransactionBatch(factory)(envelopes) as batch:
            sessions, costs = SessionRepository(batch.session), CostRepository(batch.session)
            for session_values, cost_values in cases:  # as a start: looked up (absent), then added
                assert await sessions.get(session_values["session_id"]) is None
                assert await costs.get(cost_values["session_id"]) is None
            sa.event.listen(engine.sync_engine, "before_cursor_execute", count)
            for session_values, cost_values in cases:
                await sessions.add(**session_values)
                await costs.add(**cost_values)
                kept[session_values["session_id"]] = (
                    await sessions.get(session_values["session_id"]),
                    await costs.get(cost_values["session_id"]),
                )
            sa.event.remove(engine.sync_engine, "before_cursor_execute", count)
        assert selects == []  # answered from the batch's copy
        async with factory() as db:
            stored_sessions = {r.session_id: dict(r._mapping) for r in await db.execute(sa.select(billing_sessions))}
            stored_costs = {r.session_id: dict(r._mapping) for r in await db.execute(sa.select(session_costs))}
        for session_id, (session_row, cost_row) in kept.items():
            assert session_row == stored_sessions[session_id]
            assert cost_row == stored_costs[session_id]
            assert session_row is not None and cost_row is not None
            for row in (session_row, cost_row):
                assert row["started_at"].tzinfo == UTC  # as UTCDateTime reads it, whatever zone was written
    finally:
        await engine.dispose()


def test_a_row_that_cannot_be_known_without_reading_it_is_read_again() -> None:
    """A value of another type (a Decimal, a naive datetime) or an unknown column: no copy, the next get reads."""
    base = {"session_id": "S", "station_id": "CP", "started_at": T0, "status": "active"}
    assert row_as_stored(billing_sessions, base) is not None
    assert row_as_stored(billing_sessions, {**base, "power_w": Decimal("11000")}) is None
    assert row_as_stored(billing_sessions, {**base, "started_at": T0.replace(tzinfo=None)}) is None
    assert row_as_stored(billing_sessions, {**base, "energy_wh": True}) is None
    assert row_as_stored(billing_sessions, {**base, "no_such_column": 1}) is None


def _story(rnd: random.Random) -> list[Envelope]:
    """Sessions started in random zones, updates (some duplicated, some late, some after the end), ends (one
    republished), interleaved per station as a partition would hold them."""
    events: list[Envelope] = []
    per_station: dict[str, list[Envelope]] = {}
    for n in range(12):
        station, start = f"CP-{n % 4}", _when(rnd)
        driver = rnd.choice(["D-card", "D-wallet", None])
        mine = [started(f"S{n}", station, start, driver_id=driver, ocpp_version="ocpp1.6", transaction_id=str(n))]
        steps = sorted(rnd.sample(range(1, 30), rnd.randint(0, 6)))
        for step in steps:
            mine.append(updated(f"S{n}", station, start + timedelta(minutes=step), 200 * step))
            if rnd.random() < 0.2:
                mine.append(mine[-1])  # delivered twice
        if steps and rnd.random() < 0.3:
            mine.append(updated(f"S{n}", station, start + timedelta(minutes=steps[0] - 1), 10))  # late
        if rnd.random() < 0.7:
            end = start + timedelta(minutes=31)
            mine.append(ended(f"S{n}", station, start, end, 200 * 31 + n, driver_id=driver))
            if rnd.random() < 0.3:
                mine.append(updated(f"S{n}", station, end + timedelta(minutes=1), 99_999))  # after the end
            if rnd.random() < 0.2:
                mine.append(ended(f"S{n}", station, start, end, 200 * 31 + n, driver_id=driver))  # republished
        per_station.setdefault(station, []).extend(mine)
    queues = list(per_station.values())
    while any(queues):
        queue = rnd.choice([q for q in queues if q])
        events.append(queue.pop(0))
    return events


async def _run(url: str, events: list[Envelope], batch_size: int | None) -> dict[str, Any]:
    later = Later() if batch_size else None
    async with billing(url, later) as (ctx, sandbox, factory):
        costs = CostsContext(uow=lambda: SqlCostUnitOfWork(factory), topics=ctx.topics, source="test",
                             clock=ctx.clock, display=_Display(), interval=timedelta(minutes=5),
                             later=Later() if batch_size else None)  # fmt: skip
        handle = build_dispatcher(ctx, costs)
        if batch_size is None:
            for envelope in events:
                await handle(envelope)
        else:
            await in_batches(factory, handle, events, batch_size)
            for pending in (later, costs.later):
                assert pending is not None
                await pending.idle()
                await pending.close()
        got = await outcome(factory, sandbox)
        async with factory() as db:
            got["costs"] = sorted(
                ({k: v for k, v in dict(r._mapping).items()} for r in await db.execute(sa.select(session_costs))),
                key=lambda r: str(r["session_id"]),
            )
            values = (await db.execute(sa.text("SELECT value FROM outbox ORDER BY id"))).scalars()
        announced = [json.loads(v) for v in values]
        got["announced"] = sorted(
            json.dumps({**a["payload"], "cdr_id": None}, sort_keys=True)
            for a in announced
            if a["type"] == "billing.session_cost_updated"
        )
        got["cdrs_announced"] = sum(a["type"] == "billing.cdr_created" for a in announced)
        return got


class _Display:
    async def send(self, station_id: str, action: str, payload: dict[str, Any], ocpp_version: str | None) -> str:
        return "accepted"


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_batched_stories_with_the_cost_path_give_the_same_results_as_one_by_one(
    new_store: Callable[[], str], seed: int
) -> None:
    events = _story(random.Random(seed))
    expected = await _run(new_store(), events, None)
    assert expected["announced"] and expected["cdrs"]
    for batch_size in (3, 50):
        assert await _run(new_store(), events, batch_size) == expected, batch_size

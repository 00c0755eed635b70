"""Reads by arrays of ids on a store that started empty: what PostgreSQL's cached generic plans cost later.

`uv run python -m bench.pipeline.plans [--rows 100000] [--rounds 5]`: on a fresh database with billing's schema
(which has the outbox), runs the real `OutboxRelay` and billing's batch read of sessions by id
(`prefetch_session_rows`) six times while the tables are empty, as a new deployment's first batches do; then
fills the outbox with `--rows` published rows (and the batch's unpublished ones) and `billing_sessions` with
`--rows` sessions, and times `--rounds` relay rounds (200 rows each) and reads (300 ids each) on the same
connection (pool of one). Prints ms per round / read, the PostgreSQL backend's CPU (`db_cpu_s`) and the load
average. Autovacuum would end the generic plan at its first ANALYZE of the filled table (within a minute or so,
or never for a table whose changes stay under its threshold): the timed part runs right after the fill, as a
batch does. Needs `--pg` (or VOLTLINE_TEST_POSTGRES_DSN); not part of `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from voltline_billing.adapters.orm import billing_sessions
from voltline_billing.adapters.tariff_repository import prefetch_session_rows
from voltline_billing.bootstrap import MIGRATIONS
from voltline_events import Envelope
from voltline_store import OutboxRelay, UnitOfWork, create_engine, run_migrations, session_factory

from bench.pipeline.ingest import new_database

FILL_OUTBOX = (
    "INSERT INTO outbox (topic, value, event_id, created_at, published_at)"
    " SELECT 't', convert_to(repeat('x', 400), 'UTF8'), gen_random_uuid(), now(), now() FROM generate_series(1, {n})"
)
FILL_SESSIONS = (
    "INSERT INTO billing_sessions (session_id, station_id, started_at, energy_wh, status)"
    " SELECT 'S-' || g, 'CP-' || (g % 5000), now(), 0, 'ended' FROM generate_series(1, {n}) g"
)


class Acks:
    async def publish(self, topic: str, envelope: Envelope, *, key: bytes | None = None) -> None:
        pass


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:  # a server on another machine: no figure
        return float("nan")


async def _backend_cpu(conn: Any) -> float:
    return _cpu_of((await conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar())


async def _add(sessions: Any, count: int) -> None:
    async with UnitOfWork(sessions) as uow:
        for n in range(count):
            uow.outbox.add("t", Envelope(type="t", schema_version=1, source="bench", payload={"n": n}))
        await uow.commit()


async def _read(sessions: Any, ids: list[str]) -> None:
    async with sessions() as session, session.begin():
        batch = SimpleNamespace(memo={}, envelopes=[SimpleNamespace(session_id=i) for i in ids])
        await prefetch_session_rows(session, batch, "bench", billing_sessions, {}, ids[0])


async def run(url: str, rows: int, rounds: int) -> dict[str, Any]:
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url, pool_size=1, max_overflow=0)  # one connection: one set of prepared statements
    sessions = session_factory(engine)
    relay = OutboxRelay(engine, Acks(), batch_size=200, name="bench-plans")
    try:
        for n in range(6):  # a new deployment's first batches: the tables are empty
            await _add(sessions, 1)
            await relay.run_once()
            await _read(sessions, [f"S-new-{n}-{i}" for i in range(3)])
        async with engine.begin() as conn:
            await conn.exec_driver_sql(FILL_OUTBOX.format(n=int(rows)))
            await conn.exec_driver_sql(FILL_SESSIONS.format(n=int(rows)))
        async with engine.connect() as conn:
            cpu0 = await _backend_cpu(conn)
        relay_s = 0.0
        for _ in range(rounds):
            await _add(sessions, 200)
            began = time.perf_counter()
            assert await relay.run_once() == 200
            relay_s += time.perf_counter() - began
        async with engine.connect() as conn:
            cpu1 = await _backend_cpu(conn)
        read_s = 0.0
        for r in range(rounds):
            began = time.perf_counter()
            await _read(sessions, [f"S-{(r * 7919 + i * 331) % rows + 1}" for i in range(300)])
            read_s += time.perf_counter() - began
        async with engine.connect() as conn:
            cpu2 = await _backend_cpu(conn)
            plans = {
                text.split(" WHERE ")[0][:40]: (generic, custom)
                for text, generic, custom in (
                    await conn.exec_driver_sql(
                        "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
                        " WHERE statement ~ 'ANY' AND statement !~ 'pg_prepared_statements'"
                    )
                ).all()
            }
    finally:
        await engine.dispose()
    return {
        "rows": rows,
        "relay_ms_per_round": round(relay_s / rounds * 1000, 1),
        "relay_db_cpu_s": round(cpu1 - cpu0, 2),
        "read_ms_per_read": round(read_s / rounds * 1000, 1),
        "read_db_cpu_s": round(cpu2 - cpu1, 2),
        "plans_generic_custom": plans,
        "load_average": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default=os.environ.get("VOLTLINE_TEST_POSTGRES_DSN"))
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not args.pg:
        parser.error("--pg (or VOLTLINE_TEST_POSTGRES_DSN) is needed")
    print(json.dumps(asyncio.run(run(new_database(args.pg), args.rows, args.rounds))))


if __name__ == "__main__":
    main()

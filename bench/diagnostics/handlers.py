"""The diagnostics consumer's own cost, without Kafka: `uv run python -m bench.diagnostics.handlers`.

Runs the service's real handler table (`build_dispatcher`) inside its real batch scope (`PrefetchingBatch`
over `TransactionBatch`: one transaction per batch, inbox markers in one statement, status rows read up
front and written in bulk at the commit) against PostgreSQL (`--postgres`, default VOLTLINE_TEST_POSTGRES_DSN)
or SQLite (`--sqlite`), in batches of `--batch` events as the consumer would fetch them. Prints events/s
(wall and per CPU second of this process) for a backlog (a connect and a first StatusNotification per
station) and for status changes. `--profile` prints the top functions by cumulative time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import random
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from voltline_diagnostics.adapters.status_batch import PrefetchingBatch
from voltline_diagnostics.adapters.unit_of_work import SqlDiagnosticsUnitOfWork
from voltline_diagnostics.entrypoints.consumers import build_dispatcher
from voltline_diagnostics.service_layer.context import CONSUMER, HealthContext
from voltline_events import Envelope, Topics, envelope_for
from voltline_events.payloads import ConnectorStatus, StationConnected
from voltline_store import TransactionBatch, create_engine, run_migrations, session_factory

from bench._stores import add_store_arguments, bench_database
from bench.diagnostics.__main__ import DatabaseCpu

MIGRATIONS = Path(__file__).resolve().parents[2] / "services/diagnostics/src/voltline_diagnostics/migrations"


def status(sid: str, value: str, connector: int = 1) -> Envelope:
    event = ConnectorStatus(ocpp_version="ocpp1.6", connector_id=connector, status=value, error_code="NoError")
    return envelope_for(event, source="gateway/bench", station_id=sid)


async def run(database: str, args: argparse.Namespace) -> dict[str, Any]:
    await run_migrations(database, MIGRATIONS)
    engine = create_engine(database)
    sessions = session_factory(engine)
    ctx = HealthContext(
        uow=lambda: SqlDiagnosticsUnitOfWork(sessions),
        topics=Topics("bench."),
        source="diagnostics/bench",
        clock=lambda: datetime.now(UTC),
        dialect=engine.dialect.name,
    )
    dispatch = build_dispatcher(ctx)
    scope = PrefetchingBatch(TransactionBatch(sessions, inbox_consumer=CONSUMER))
    stations = [f"BENCH-{i:05d}" for i in range(args.stations)]
    # Six partitions keyed by station, as the topic is: a fetch returns one partition's events in order.
    partition = {sid: hash(sid) % 6 for sid in stations}

    # Statements per batch, and how many distinct texts (on PostgreSQL each new text is prepared first: a
    # round trip more and a plan, for every batch whose size changed an IN list or a VALUES list).
    statements: list[str] = []
    sa.event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    batches = [0]

    def statement_figures(events: int) -> dict[str, Any]:
        figures = {
            "batches": batches[0],
            "statements_per_batch": round(len(statements) / max(1, batches[0]), 1),
            "distinct_statements": len(set(statements)),
            "events_per_batch": round(events / max(1, batches[0]), 1),
        }
        if os.environ.get("BENCH_STATEMENTS"):
            for text, n in Counter(" ".join(t.split())[:110] for t in statements).most_common():
                print(f"{n:6d}  {text}")
        statements.clear()
        batches[0] = 0
        return figures

    # The PostgreSQL backends' CPU too (the server runs on this machine): most of a change's writes cost it.
    db = DatabaseCpu(args.postgres if engine.dialect.name == "postgresql" else None, engine.url.database)

    async def consume(envelopes: list[Envelope]) -> tuple[float, float]:
        by_partition: dict[int, list[Envelope]] = {}
        for e in envelopes:
            by_partition.setdefault(partition[e.station_id or ""], []).append(e)
        wall, cpu = time.perf_counter(), time.process_time()
        for events in by_partition.values():
            for start in range(0, len(events), args.batch):
                batch = events[start : start + args.batch]
                batches[0] += 1
                async with scope(batch):
                    for envelope in batch:
                        await dispatch(envelope)
        return time.perf_counter() - wall, time.process_time() - cpu

    results: dict[str, Any] = {"store": engine.dialect.name, "stations": args.stations, "batch": args.batch}
    backlog: list[Envelope] = []
    for sid in stations:
        connected = StationConnected(ocpp_version="ocpp1.6", gateway_instance="bench")
        backlog += [envelope_for(connected, source="gateway/bench", station_id=sid), status(sid, "Available")]
    profiler = cProfile.Profile(time.process_time) if args.profile else None  # CPU time, not the waits
    wall, cpu = await consume(backlog)
    results["load_average"] = os.getloadavg()[0]
    results["backlog"] = {
        "events": len(backlog),
        "per_s": round(len(backlog) / wall),
        "per_cpu_s": round(len(backlog) / cpu),
        **statement_figures(len(backlog)),
    }
    print("backlog", results["backlog"], flush=True)
    state = dict.fromkeys(stations, "Available")
    changes = []
    for _ in range(args.changes):
        sid = random.choice(stations)
        state[sid] = "Charging" if state[sid] == "Available" else "Available"
        changes.append(status(sid, state[sid]))
    if profiler:
        profiler.enable()
    db0 = await db.seconds()
    wall, cpu = await consume(changes)
    db_cpu = await db.seconds() - db0
    if profiler:
        profiler.disable()
    results["changes"] = {
        "events": len(changes),
        "per_s": round(len(changes) / wall),
        "per_cpu_s": round(len(changes) / cpu),
        "db_cpu_s": round(db_cpu, 2),
        "per_cpu_s_with_db": round(len(changes) / (cpu + db_cpu)),
        **statement_figures(len(changes)),
    }
    print("changes", results["changes"], flush=True)
    await engine.dispose()
    if profiler:
        pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(args.profile)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_store_arguments(parser)
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500, help="events per batch (the consumer's max_poll_records)")
    parser.add_argument("--profile", type=int, default=0, help="print this many functions of a profile")
    args = parser.parse_args()
    with bench_database(args, "bench_diag") as database:
        print(asyncio.run(run(database, args)))


if __name__ == "__main__":
    main()

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
    scope = PrefetchingBatch(TransactionBatch(sessions, inbox_consumer=CONSUMER))
    if args.memory and not args.background:  # as the service wires it (last_seen_flush_s > 0)
        from voltline_diagnostics.bootstrap import wire_heard

        wire_heard(ctx, scope, 10.0)
    dispatch = build_dispatcher(ctx)
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
    if args.background:  # the e2e's background mix, every batch through the store, then quiet ones from memory
        results["background"] = await background(ctx, sessions, args, db)
        print("background", results["background"], flush=True)
        await engine.dispose()
        return results
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


async def background(ctx: HealthContext, sessions: Any, args: argparse.Namespace, db: DatabaseCpu) -> dict[str, Any]:
    """`--background N`: the e2e bench's background messages (background.py: transaction updates, repeated
    StatusNotifications, heartbeats of 1,000 stations, from the gateway's bytes, each decoded as the consumer
    does) in batches of `--batch` per partition, twice on new stations: every event in a batch transaction
    (`last_seen_flush_s` 0), then with quiet events answered from memory (the times written every 10,000
    events, ~5 s at 2,000 msg/s). CPU µs per message of this process (and PostgreSQL's)."""
    from dataclasses import replace

    from voltline_diagnostics.bootstrap import wire_heard
    from voltline_diagnostics.domain.silence import SilenceWatch
    from voltline_diagnostics.service_layer import heard

    from bench.diagnostics.background import Mix

    out: dict[str, Any] = {}
    for mode in ("batches", "memory"):
        here = replace(ctx, silence_watch=SilenceWatch())
        scope = PrefetchingBatch(TransactionBatch(sessions, inbox_consumer=CONSUMER))
        if mode == "memory":
            wire_heard(here, scope, 10.0)
        held: dict[str, dict[str, str]] = {}

        async def maintenance(station_id: str, report: ConnectorStatus, held: dict[str, Any] = held) -> None:
            held.setdefault(station_id, {})[str(report.connector_id)] = report.status

        dispatch = build_dispatcher(here, on_status=maintenance)
        stations = [f"BG-{mode}-{i:05d}" for i in range(1000)]
        mix = Mix(stations)
        warm = [mix.start(sid, v)[0] for sid, v in mix.stations]
        timed = [mix.next(*mix.stations[n % len(stations)])[0] for n in range(args.background)]
        cpu_total = wall_total = db_total = 0.0
        for phase, values in (("warm", warm + timed[: len(timed) // 4]), ("timed", timed)):
            by_partition: dict[int, list[bytes]] = {}
            for n, value in enumerate(values):  # in order, about a fetch's worth of each partition at a time
                by_partition.setdefault((n // (args.batch * 6)) * 6 + n % 6, []).append(value)
            profiler = cProfile.Profile(time.process_time) if args.profile and phase == "timed" else None
            if profiler:
                profiler.enable()
            db0, wall, cpu = await db.seconds(), time.perf_counter(), time.process_time()
            handled = 0
            for raws in by_partition.values():
                batch = [Envelope.from_bytes(raw) for raw in raws]  # the consumer's decode
                async with scope(batch):
                    for envelope in batch:
                        await dispatch(envelope)
                handled += len(batch)
                if mode == "memory" and handled >= 10_000:
                    handled = 0
                    await heard.write_heard(here)
            if mode == "memory":
                await heard.write_heard(here)
            if phase == "timed":
                cpu_total, wall_total = time.process_time() - cpu, time.perf_counter() - wall
                if profiler:
                    profiler.disable()
                    print(mode, flush=True)
                    pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_SORT", "tottime")).print_stats(args.profile)
                db_total = await db.seconds() - db0
        out[mode] = {
            "messages": len(timed),
            "cpu_us_per_msg": round(1e6 * cpu_total / len(timed), 1),
            "db_cpu_us_per_msg": round(1e6 * db_total / len(timed), 1),
            "per_s": round(len(timed) / wall_total),
            "load_average": os.getloadavg()[0],
        }
        print(mode, out[mode], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_store_arguments(parser)
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500, help="events per batch (the consumer's max_poll_records)")
    parser.add_argument("--memory", action="store_true", help="quiet events answered from memory (as the service)")
    parser.add_argument("--background", type=int, default=0, help="the e2e's background mix: this many messages")
    parser.add_argument("--profile", type=int, default=0, help="print this many functions of a profile")
    args = parser.parse_args()
    with bench_database(args, "bench_diag") as database:
        print(asyncio.run(run(database, args)))


if __name__ == "__main__":
    main()

"""The analytics store alone, without a broker: `uv run python -m bench.analytics.store [--events 100000]`.

Encodes the synthetic network's log (bench.analytics.events) as the worker receives it (envelope bytes), then
applies it in batches as the batch worker does (decode + prepare + project + one transaction per batch; here
one after the other, where the worker prepares the next batch while one is written) into an empty store.
Prints events per second of wall time and per CPU second of this process (and, with --profile FILE, writes a
cProfile of the apply loop; with --statements, the CPU and wall time spent in each kind of SQL statement, per
tenth of the log: what grows with the store; PostgreSQL's COPYs are not statements and are not listed). With
--postgres, a private PostgreSQL server, whose CPU per event is printed. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import secrets
import shutil
import tempfile
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event
from voltline_analytics.adapters.groups import set_members
from voltline_analytics.adapters.projection_store import StateCache
from voltline_analytics.bootstrap import MIGRATIONS
from voltline_analytics.entrypoints.consumers import store_applier
from voltline_analytics.service_layer.projector import prepare
from voltline_chassis.gctune import DEFAULT_THRESHOLDS, tuned_gc
from voltline_events import Envelope, Topics
from voltline_store import create_engine, run_migrations, session_factory

from bench.analytics.__main__ import _tree_cpu_s
from bench.analytics.events import network_log


async def run(
    url: str,
    events: int,
    stations: int,
    batch: int,
    profile: str | None,
    statements: bool = False,
    db_pid: int | None = None,
    gc_thresholds: tuple[int, int, int] | None = DEFAULT_THRESHOLDS,
    groups: int = 0,
) -> dict[str, Any]:
    raw = [e.to_bytes() for _, e in network_log(stations, events, Topics("bench."))]
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    if groups:  # station i in group i % groups, before the log (the worker keeps their buckets: ADR 0035)
        async with session_factory(engine)() as s, s.begin():
            for g in range(groups):
                await set_members(s, f"G{g}", [f"ST-{i:05d}" for i in range(g, stations, groups)])
    spent: dict[str, list[float]] = defaultdict(lambda: [0.0, 0, 0.0])
    if statements:  # CPU of this process around each statement: the driver's (and aiosqlite's thread's) share

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            conn.info["bench_cpu"] = time.process_time()
            conn.info["bench_wall"] = time.perf_counter()

        @event.listens_for(engine.sync_engine, "after_cursor_execute")
        def _after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            entry = spent[" ".join(statement.split()[:4])[:60]]
            entry[0] += time.process_time() - conn.info["bench_cpu"]
            entry[1] += 1
            entry[2] += time.perf_counter() - conn.info["bench_wall"]

    apply = store_applier(session_factory(engine), timedelta(days=7), StateCache())
    tuning = tuned_gc(gc_thresholds) if gc_thresholds else contextlib.nullcontext()  # as the service's lifespan
    tuning.__enter__()
    profiler = cProfile.Profile(time.process_time) if profile else None  # CPU, not wall: the machine is shared
    db_cpu = _tree_cpu_s(db_pid) if db_pid else 0.0
    wall, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    step, mark, mark_cpu = max(batch, len(raw) // 10), 0, cpu
    for i in range(0, len(raw), batch):
        await apply(await prepare([Envelope.from_bytes(r) for r in raw[i : i + batch]]))  # as the batch worker
        done = min(i + batch, len(raw))
        if done - mark >= step or done == len(raw):  # the rate as the store grows
            now = time.process_time()
            print(
                f"  events {mark:>9,} to {done:>9,}: {(done - mark) / (now - mark_cpu):,.0f} per CPU-second", flush=True
            )
            mark, mark_cpu = done, now
            for name, (cpu_s, count, wall_s) in sorted(spent.items(), key=lambda kv: -kv[1][2])[:8]:
                print(f"    {cpu_s:7.2f} CPU s {wall_s:7.2f} wall s {count:6d}x {name}", flush=True)
            spent.clear()
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    tuning.__exit__(None, None, None)
    db_cpu = _tree_cpu_s(db_pid) - db_cpu if db_pid else 0.0
    await engine.dispose()
    out = {"events": len(raw), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
           "events_per_s": round(len(raw) / wall), "events_per_cpu_s": round(len(raw) / cpu),
           "load_average": os.getloadavg()[0], "groups": groups}  # fmt: skip
    if db_pid:
        out |= {"db_server_cpu_s": round(db_cpu, 2), "events_per_cpu_s_incl_db": round(len(raw) / (cpu + db_cpu)),
                "db_server_us_per_event": round(db_cpu / len(raw) * 1e6, 1)}  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--database", help="store URL, an empty database (default: a fresh SQLite file)")
    parser.add_argument(
        "--postgres", action="store_true", help="a private PostgreSQL server (its CPU is printed as db_server_cpu_s)"
    )
    parser.add_argument("--profile", help="write a cProfile of the apply loop to this file")
    parser.add_argument("--statements", action="store_true", help="print the CPU spent in each kind of statement")
    parser.add_argument("--groups", type=int, default=0, help="put the stations in this many groups first")
    parser.add_argument(
        "--gc",
        default="service",
        choices=["service", "python"],
        help="service: the GC as the service's lifespan tunes it (voltline_chassis.gctune); python: CPython's defaults",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-analytics-store-"))
    pg = None
    try:
        url = args.database or f"sqlite+aiosqlite:///{tmp}/{secrets.token_hex(3)}.db"
        if args.postgres:
            from voltline_devinfra.postgres import PostgresServer

            pg = PostgresServer().start()
            url = pg.create_database(f"store_{secrets.token_hex(3)}")
        pid = pg._proc.pid if pg is not None and pg._proc else None
        gc_thresholds = DEFAULT_THRESHOLDS if args.gc == "service" else None
        figures = asyncio.run(
            run(
                url,
                args.events,
                args.stations,
                args.batch,
                args.profile,
                args.statements,
                pid,
                gc_thresholds,
                args.groups,
            )
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if pg is not None:
            pg.stop()
    print("\nanalytics store benchmark")
    for key, value in figures.items():
        print(f"  {key:20} {value}")


if __name__ == "__main__":
    main()

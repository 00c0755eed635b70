"""Benchmark of the analytics service: `uv run python -m bench.analytics [--events 1000000 --kafka HOST:PORT]`.

1. Replay: the synthetic network's log (bench.analytics.events) is put on Apache Kafka (started here unless
   --kafka is given), then one faust worker replays it from the beginning into an empty store: events/s.
2. Query: a year of daily KPIs for a network of 1,000 stations and for a group of all 1,000 (its materialised
   buckets, ADR 0035, and summed from its stations' at query time as before), and the group's rebuild.
3. Export: the NEVI sessions CSV of 100,000 sessions, streamed through the API: seconds.
Prints the figures at the end (not part of `make test`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import secrets
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import insert
from voltline_analytics.adapters import orm
from voltline_analytics.adapters.batch_worker import BatchWorker
from voltline_analytics.adapters.faust_worker import FaustWorker
from voltline_analytics.adapters.groups import set_members
from voltline_analytics.adapters.kpi_reads import SqlKpiReads
from voltline_analytics.adapters.projection_store import StateCache
from voltline_analytics.bootstrap import MIGRATIONS
from voltline_analytics.domain.kpis import Co2Factors
from voltline_analytics.entrypoints.consumers import store_applier
from voltline_analytics.entrypoints.exports import build_exports_router
from voltline_analytics.service_layer import queries as kpi_queries
from voltline_analytics.service_layer.context import AnalyticsContext
from voltline_analytics.service_layer.queries import Scope
from voltline_bus import BusConfig, Producer, TopicSpec, ensure_topics
from voltline_chassis.gctune import DEFAULT_THRESHOLDS, tuned_gc
from voltline_events import Envelope, Topics
from voltline_store import create_engine, run_migrations, session_factory

from bench.analytics.events import network_log

YEAR = datetime(2026, 1, 1, tzinfo=UTC)


def _tree_cpu_s(root: int) -> float:
    """CPU seconds of a process and its descendants, live and reaped (Linux /proc): the database server's."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        # utime, stime, and for the root the reaped children's cutime, cstime
        times[int(entry.name)] = sum(int(f) for f in fields[11 : 15 if int(entry.name) == root else 13]) / tick
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += times.get(pid, 0.0)
        stack += [child for child, parent in parents.items() if parent == pid]
    return total


async def produce(bootstrap: str, events: int, stations: int) -> tuple[list[str], int, dict[str, Any]]:
    """The synthetic log on the broker (6 partitions per topic, keyed by station): topics, events, figures."""
    topics = Topics(f"bench-{secrets.token_hex(3)}.")
    names = [topics.sessions, topics.billing, topics.station_events]
    config = BusConfig(bootstrap=bootstrap, client_id="bench-analytics", linger_ms=20)
    await ensure_topics(config, [TopicSpec(n, partitions=6) for n in names])
    producer = Producer(config)
    await producer.start()
    began, produced, chunk = time.perf_counter(), 0, []
    for topic, envelope in network_log(stations, events, topics):
        chunk.append((topic, envelope, (envelope.station_id or "").encode()))
        if len(chunk) >= 5000:
            await producer.publish_many(chunk)
            produced, chunk = produced + len(chunk), []
    await producer.publish_many(chunk)
    produced += len(chunk)
    await producer.stop()
    return names, produced, {"events": produced, "produce_s": round(time.perf_counter() - began, 1)}


async def replay(
    bootstrap: str,
    names: list[str],
    produced: int,
    url: str,
    batch: int,
    kind: str,
    db_pid: int | None,
    gc_thresholds: tuple[int, int, int] | None = DEFAULT_THRESHOLDS,
    groups: int = 0,
    stations: int = 1000,
) -> dict[str, Any]:
    """One worker replays the log from the beginning into the empty store at `url`, with the garbage collector
    tuned as the service's lifespan tunes it (`gc_thresholds`; None: CPython's defaults). With `groups`, the
    stations are first put in that many groups (station i in group i % groups), whose buckets the worker keeps."""
    config = BusConfig(bootstrap=bootstrap, client_id="bench-analytics")
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    if groups:
        async with session_factory(engine)() as s, s.begin():
            for g in range(groups):
                members = [f"ST-{i:05d}" for i in range(g, stations, groups)]
                await set_members(s, f"G{g}", members)
    apply = store_applier(session_factory(engine), timedelta(days=7), StateCache() if kind == "batch" else None)
    done = asyncio.Event()
    seen = batches = 0

    async def counting(envelopes: list[Envelope]) -> Any:
        nonlocal seen, batches
        outcome = await apply(envelopes)
        seen += len(envelopes)
        batches += 1
        if seen >= produced:
            done.set()
        return outcome

    dead = Producer(config)
    await dead.start()
    worker: FaustWorker | BatchWorker
    if kind == "faust":
        worker = FaustWorker(group_id=f"bench-{secrets.token_hex(3)}", bootstrap=bootstrap, topics=names,
                             apply_batch=counting, dead_letter=dead, datadir=None, batch_max=batch)  # fmt: skip
    else:
        worker = BatchWorker(config, group_id=f"bench-{secrets.token_hex(3)}", topics=names, apply_batch=counting,
                             dead_letter=dead, batch_max=batch)  # fmt: skip
    db_cpu = _tree_cpu_s(db_pid) if db_pid else 0.0
    began, cpu, load = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    await worker.start()
    with tuned_gc(gc_thresholds) if gc_thresholds else contextlib.nullcontext():  # as the service, once started
        await done.wait()
    replay_s, cpu = time.perf_counter() - began, time.process_time() - cpu
    db_cpu = _tree_cpu_s(db_pid) - db_cpu if db_pid else 0.0
    load = (load + os.getloadavg()[0]) / 2
    await worker.stop()
    await dead.stop()
    await engine.dispose()
    out = {"replay_s": round(replay_s, 1), "replay_events_per_s": round(produced / replay_s),
           "replay_worker_cpu_s": round(cpu, 1), "replay_events_per_worker_cpu_s": round(produced / cpu),
           "load_average": round(load, 1), "replay_batches": batches, "groups": groups,
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}  # fmt: skip
    if db_pid:
        out |= {
            "db_server_cpu_s": round(db_cpu, 1),
            "replay_events_per_cpu_s_incl_db": round(produced / (cpu + db_cpu)),
        }
    return out


async def query_year(url: str, stations: int) -> dict[str, Any]:
    """A year of daily buckets for `stations` stations and the network, written directly, then queried."""
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    sessions = session_factory(engine)
    ids = [f"ST-{i:05d}" for i in range(stations)]
    days = [YEAR + timedelta(days=d) for d in range(365)]
    zero = {"sessions": 0, "completed_sessions": 0, "failed_sessions": 0, "failed_auth": 0, "failed_low_energy": 0,
            "failed_error": 0, "energy_wh": 0, "charging_s": 0, "idle_s": 0, "occupied_s": 0, "duration_s": 0,
            "cdrs": 0, "offline_s": 0, "fault_port_s": 0, "revenue_excl_vat": 0, "revenue_incl_vat": 0,
            "refunds_excl_vat": 0, "refunds_incl_vat": 0, "peak_power_w": 0.0, "unique_drivers": 0}  # fmt: skip
    async with sessions() as s, s.begin():
        await s.execute(insert(orm.stations), [{"station_id": i, "first_seen_at": YEAR, "connected": True,
                                                "since": YEAR, "ocpp_version": "ocpp2.0.1"} for i in ids])  # fmt: skip
        await s.execute(insert(orm.ports), [{"station_id": i, "evse_id": 1} for i in ids])
        rows = []
        for day in days:
            row = {**zero, "sessions": 10, "energy_wh": 200_000, "occupied_s": 20_000, "completed_sessions": 10,
                   "duration_s": 18_000, "unique_drivers": 9}  # fmt: skip
            rows.append({**row, "scope": "network", "scope_id": "", "granularity": "day", "bucket_start": day,
                         "currency": "", "sessions": 10 * stations})  # fmt: skip
            rows += [{**row, "scope": "station", "scope_id": i, "granularity": "day", "bucket_start": day,
                      "currency": ""} for i in ids]  # fmt: skip
            if len(rows) > 20_000:
                await s.execute(insert(orm.buckets), rows)
                rows = []
        await s.execute(insert(orm.buckets), rows)
    out: dict[str, Any] = {}
    began = time.perf_counter()
    async with sessions() as s, s.begin():  # the group's buckets rebuilt from its members' (ADR 0035)
        await set_members(s, "all", ids)
    out["group_of_all_rebuild_s"] = round(time.perf_counter() - began, 2)
    for label, members in (("one_leaves", ids[1:]), ("one_joins", ids)):  # deltas: that station's history only
        began = time.perf_counter()
        async with sessions() as s, s.begin():
            await set_members(s, "all", members)
        out[f"group_of_all_{label}_s"] = round(time.perf_counter() - began, 3)
    now = datetime(2027, 1, 1, tzinfo=UTC)
    runs = (("network", Scope(), True), ("group_of_all", Scope(group_id="all"), True),
            ("group_of_all_summed_at_query_time", Scope(group_id="all"), False))  # fmt: skip
    for label, scope, materialised in runs:
        timings = []
        for _ in range(5):
            began = time.perf_counter()
            async with sessions() as s:
                items = await kpi_queries.kpis(SqlKpiReads(s), scope, YEAR, YEAR + timedelta(days=365), "day", now,
                                               Co2Factors(), "EUR", group_buckets=materialised)  # fmt: skip
            timings.append(time.perf_counter() - began)
            assert len(items) == 365 and items[0]["sessions"] == 10 * stations, items[0]
        out[f"year_daily_{label}_ms"] = round(sorted(timings)[2] * 1000)  # the median of five
    await engine.dispose()
    return out


async def export_csv(url: str, sessions_count: int) -> dict[str, Any]:
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    sessions = session_factory(engine)
    async with sessions() as s, s.begin():
        rows = []
        for n in range(sessions_count):
            start = YEAR + timedelta(minutes=5 * n)
            data = {"session_id": f"S{n}", "station_id": f"ST-{n % 1000:05d}", "evse_id": 1, "connector_id": 1,
                    "started_at": start.isoformat(), "ended_at": (start + timedelta(hours=1)).isoformat(),
                    "energy_wh": 20_000, "peak_power_w": 50_000.0, "stop_reason": "Local", "driver": None,
                    "id_token_type": "ISO14443", "ocpp_version": "ocpp2.0.1", "revision": 1,
                    "failure": None}  # fmt: skip
            rows.append({"fact_key": f"session:S{n}", "kind": "session", "station_id": data["station_id"], "rank": 1,
                         "at": start, "data": data})  # fmt: skip
            if len(rows) >= 10_000:
                await s.execute(insert(orm.facts), rows)
                rows = []
        if rows:
            await s.execute(insert(orm.facts), rows)
    ctx = AnalyticsContext(sessions=sessions, lateness=timedelta(days=7), co2=Co2Factors(), default_currency="EUR")
    app = FastAPI()
    app.include_router(build_exports_router(ctx), prefix="/api/v1")
    params = {"from": YEAR.isoformat(), "to": (YEAR + timedelta(days=3650)).isoformat()}
    began = time.perf_counter()
    lines = 0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        async with client.stream("GET", "/api/v1/exports/nevi/sessions", params=params) as response:
            assert response.status_code == 200
            async for chunk in response.aiter_text():
                lines += chunk.count("\n")
    took = time.perf_counter() - began
    await engine.dispose()
    assert lines == sessions_count + 1, lines
    return {"csv_sessions": sessions_count, "csv_s": round(took, 2)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=5000, help="events per store transaction (fetch / take)")
    parser.add_argument("--kafka", help="bootstrap servers of an Apache Kafka to use (default: start one here)")
    parser.add_argument("--database", help="store URL (default: a fresh SQLite file per part)")
    parser.add_argument(
        "--stores", default="sqlite", help="sqlite,postgresql (PostgreSQL: a private server started here)"
    )
    parser.add_argument("--worker", choices=("batch", "faust"), default="batch", help="the analytics worker")
    parser.add_argument(
        "--gc",
        default="service",
        choices=["service", "python"],
        help="service: the GC as the service's lifespan tunes it (voltline_chassis.gctune); python: CPython's defaults",
    )
    parser.add_argument(
        "--groups", type=int, default=0, help="put the stations in this many groups before the replay (ADR 0035)"
    )
    parser.add_argument("--skip-replay", action="store_true")
    parser.add_argument("--skip-queries", action="store_true", help="only the replay")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-analytics-"))
    pg = None
    if "postgresql" in args.stores:
        from voltline_devinfra.postgres import PostgresServer

        pg = PostgresServer().start()
    stores: list[tuple[str, Any, int | None]] = []
    if "sqlite" in args.stores:
        stores.append(("sqlite", lambda name: args.database or f"sqlite+aiosqlite:///{tmp}/{name}.db", None))
    if pg is not None:
        pid = pg._proc.pid if pg._proc else None
        stores.append(("postgresql", lambda name: pg.create_database(f"{name}_{secrets.token_hex(3)}"), pid))
    figures: dict[str, Any] = {}
    try:
        if not args.skip_replay:
            kafka = None
            if not args.kafka:
                from voltline_devinfra.kafka import KafkaServer

                kafka = KafkaServer(heap="1g").start()
            try:
                bootstrap = args.kafka or kafka.bootstrap_servers  # type: ignore[union-attr]
                names, produced, made = await produce(bootstrap, args.events, args.stations)
                figures |= made
                for label, url, pid in stores:
                    gc_thresholds = DEFAULT_THRESHOLDS if args.gc == "service" else None
                    done = await replay(bootstrap, names, produced, url("replay"), args.batch, args.worker, pid,
                                        gc_thresholds, args.groups, args.stations)  # fmt: skip
                    figures |= {f"{label}_{k}": v for k, v in done.items()}
                    print(label, done, flush=True)
            finally:
                if kafka is not None:
                    kafka.stop()
        if not args.skip_queries:
            for label, url, _ in stores:
                figures |= {f"{label}_{k}": v for k, v in (await query_year(url("query"), args.stations)).items()}
                figures |= {f"{label}_{k}": v for k, v in (await export_csv(url("export"), 100_000)).items()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if pg is not None:
            pg.stop()
    print("\nanalytics benchmark")
    for key, value in figures.items():
        print(f"  {key:40} {value}")


if __name__ == "__main__":
    asyncio.run(main())

"""The session service's rules alone, no broker: `uv run python -m bench.pipeline.rules [--events N] [--batch B]`.

Feeds the realistic station mix (bench.pipeline.ingest.station_mix) through the session dispatcher in
consumer batches (TransactionBatch, as the consumer does) on a fresh SQLite file (or `--url`), and prints
events/s of wall time and per CPU-second of this process (aiosqlite's thread included): the CPU figure is
the one to compare on a machine shared with others. `--profile` prints cProfile's top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import json
import os
import pstats
import tempfile
import time
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from voltline_chassis.gctune import tuned_gc
from voltline_events import Envelope, Topics
from voltline_session.adapters.unit_of_work import SqlSessionUnitOfWork as SessionUnitOfWork
from voltline_session.entrypoints.consumers import build_dispatcher
from voltline_session.service_layer.context import CONSUMER, SessionContext
from voltline_store import TransactionBatch, create_engine, run_migrations, session_factory

from bench.pipeline.ingest import station_mix

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "session" / "src" / "voltline_session" / "migrations"


async def run(
    url: str,
    events: int,
    batch: int,
    profile: cProfile.Profile | None,
    stations: int | None = None,
    update_interval: float | None = None,
    warmup: int = 0,
    partitions: int = 1,
) -> dict[str, object]:
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    factory = session_factory(engine)
    ctx = SessionContext(
        uow=lambda: SessionUnitOfWork(factory), topics=Topics(""), source="bench", clock=lambda: datetime.now(UTC)
    )
    if update_interval is not None:  # production: 60 s against readings every 10-60 s (0: every message due)
        ctx = replace(ctx, update_interval=timedelta(seconds=update_interval))
    statements: dict[str, int] = {}

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        kind = " ".join(statement.split()[:3])
        statements[kind] = statements.get(kind, 0) + 1

    handle = build_dispatcher(ctx)
    stations = stations or max(50, events // 100)
    envelopes = [e for _, e in station_mix(stations, events)]
    warmup = -(-min(warmup, len(envelopes) - 1) // batch) * batch if warmup > 0 else 0  # whole batches
    chunks = [envelopes[start : start + batch] for start in range(0, len(envelopes), batch)]
    if partitions > 1:  # as the consumer sees them: each batch holds one partition's events only
        chunks = [
            *_partitioned(envelopes[:warmup], partitions, batch),
            *_partitioned(envelopes[warmup:], partitions, batch),
        ]
    scope = TransactionBatch(factory, inbox_consumer=CONSUMER)
    collecting = _GcClock()
    sa.event.listen(engine.sync_engine, "before_cursor_execute", count)
    wall, cpu = time.perf_counter(), time.process_time()
    if profile is not None and not warmup:
        profile.enable()
    done = 0
    stages: dict[str, float] = {}  # CPU seconds by stage (measured batches only)
    counts: dict[str, int] = {}
    clock = time.process_time
    for chunk in chunks:
        if warmup and done == warmup:  # the stations' first events done: measure the steady state from here
            wall, cpu = time.perf_counter(), time.process_time()
            collecting.reset()
            stages.clear()
            counts.clear()
            if profile is not None:
                profile.enable()
        done += len(chunk)
        t = clock()
        async with scope(chunk):
            stages["batch open"] = stages.get("batch open", 0.0) + clock() - t
            for envelope in chunk:
                t = clock()
                await handle(envelope)
                stages[envelope.type] = stages.get(envelope.type, 0.0) + clock() - t
                counts[envelope.type] = counts.get(envelope.type, 0) + 1
            t = clock()
        stages["batch commit"] = stages.get("batch commit", 0.0) + clock() - t
    if profile is not None:
        profile.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    collecting.stop()
    sa.event.remove(engine.sync_engine, "before_cursor_execute", count)
    await engine.dispose()
    measured = len(envelopes) - warmup
    return {
        "events": len(envelopes),
        "measured_events": measured,
        "batch": batch,
        "partitions": partitions,
        "batches": len(chunks),
        "stations": stations,
        "events_per_s": round(measured / wall),
        "events_per_cpu_s": round(measured / cpu),
        "load_average": round(os.getloadavg()[0], 1),
        # the cyclic GC's share of the measured CPU (its collections' process time, every generation)
        "gc_share": round(collecting.seconds / cpu, 3),
        "gc_collections": collecting.count,
        "update_interval_s": ctx.update_interval.total_seconds(),
        # CPU µs per measured event that each stage costs (handlers: per event of that type, in brackets the count)
        "us_per_event": {k: round(1e6 * v / measured, 1) for k, v in sorted(stages.items(), key=lambda kv: -kv[1])},
        "us_per_own_event": {k: f"{1e6 * stages[k] / n:.0f} ({n})" for k, n in counts.items()},
        "statements": sum(statements.values()),
        "statements_per_batch": round(sum(statements.values()) / max(1, len(chunks)), 1),
        "statements_by_kind": dict(sorted(statements.items(), key=lambda kv: -kv[1])[:12]),
    }


class _GcClock:
    """CPU seconds the cyclic GC spends in its collections (gc.callbacks), from `reset` on."""

    def __init__(self) -> None:
        self.seconds, self.count, self._start = 0.0, 0, 0.0
        gc.callbacks.append(self._on)

    def _on(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.process_time()
        else:
            self.seconds += time.process_time() - self._start
            self.count += 1

    def reset(self) -> None:
        self.seconds, self.count = 0.0, 0

    def stop(self) -> None:
        gc.callbacks.remove(self._on)


def _partitioned(envelopes: list[Envelope], partitions: int, batch: int) -> list[list[Envelope]]:
    """Batches of one partition each (keyed by station, as the gateway publishes), the partitions taking
    turns: what the service's per-partition batches hold (about stations / partitions stations each)."""
    queues: list[list[Envelope]] = [[] for _ in range(partitions)]
    for envelope in envelopes:
        queues[zlib.crc32((envelope.station_id or "").encode()) % partitions].append(envelope)
    longest = max((len(q) for q in queues), default=0)
    return [q[start : start + batch] for start in range(0, longest, batch) for q in queues if q[start : start + batch]]


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.pipeline.rules")
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--url", default=None, help="a database URL (default: a fresh SQLite file)")
    parser.add_argument("--stations", type=int, default=None, help="default: events / 100 (at least 50)")
    parser.add_argument("--profile", action="store_true", help="cProfile (CPU time) of the measured batches")
    parser.add_argument("--sort", default="cumulative", help="--profile's order: cumulative or tottime")
    parser.add_argument(
        "--partitions",
        type=int,
        default=1,
        help="split the events by station into this many partitions, each batch one partition's "
        "(6: as the ingest bench's topic; 1: every batch holds every station)",
    )
    parser.add_argument(
        "--gc",
        choices=("service", "python"),
        default="service",
        help="service: the GC tuned as the service's lifespan tunes it (voltline_chassis.gctune); python: CPython's",
    )
    parser.add_argument(
        "--update-interval", type=float, default=None, help="seconds between session.updated (default: 60)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=0,
        help="events handled before measuring (rounded up to whole batches); 1000 skips the stations' "
        "connect/boot/start (3 per station) of the default 200 stations: the steady state",
    )
    args = parser.parse_args()
    profile = cProfile.Profile(time.process_time) if args.profile else None  # CPU, not wall
    with tempfile.TemporaryDirectory(prefix="bench-rules-") as tmp:
        url = args.url or f"sqlite+aiosqlite:///{tmp}/session.db"
        collector = tuned_gc() if args.gc == "service" else contextlib.nullcontext()
        with collector:
            print(
                json.dumps(
                    asyncio.run(
                        run(
                            url,
                            args.events,
                            args.batch,
                            profile,
                            args.stations,
                            args.update_interval,
                            args.warmup,
                            args.partitions,
                        )
                    )
                ),
                flush=True,
            )
    if profile is not None:
        pstats.Stats(profile).sort_stats(args.sort).print_stats(40)


if __name__ == "__main__":
    main()

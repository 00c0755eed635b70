"""The floor every consuming service pays per event: libs/bus's batch path with a handler that does nothing.

`uv run python -m bench.pipeline.bus [--events 20000] [--databases sqlite,postgresql] [--profile]`: writes
`--events` envelopes of the gateway's realistic mix (bench.pipeline.ingest.station_mix) to a fresh 6-partition
topic, then drains them in this process with an `EventConsumer` whose batch scope is the real
`TransactionBatch` (inbox markers up front, one transaction per partition's fetch, offsets committed after
it) and whose handler only claims the event's inbox marker, as every service's handler does. Prints events/s
and events per CPU-second of this process (PostgreSQL backends' CPU apart) and the load average; `--profile`
prints cProfile's top functions (CPU time) of the drain. The drain runs with the GC tuned as a service's lifespan
tunes it (voltline_chassis.gctune); `--gc python` keeps CPython's defaults (the figure before), `--gc both` runs
both. Needs `--kafka` (or VOLTLINE_TEST_KAFKA_BOOTSTRAP)
and for PostgreSQL `--pg` (or VOLTLINE_TEST_POSTGRES_DSN); not part of `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import pstats
import secrets
import tempfile
import time
from typing import Any

import sqlalchemy as sa
from voltline_bus import BusConfig, EventConsumer, Outgoing, Producer, TopicSpec, ensure_topics
from voltline_chassis.gctune import DEFAULT_THRESHOLDS, tuned_gc
from voltline_events import Envelope, station_key
from voltline_store import TransactionBatch, create_engine, define_outbox_tables, inbox_guard, session_factory

from bench.pipeline.ingest import _db_backend_cpu, new_database, station_mix

CONSUMER = "bench-bus"


async def fill(config: BusConfig, topic: str, events: int) -> int:
    await ensure_topics(config, [TopicSpec(topic, partitions=6)])
    count = 0
    async with Producer(config) as producer:
        batch: list[Outgoing] = []
        for sid, envelope in station_mix(max(50, events // 100), events):
            batch.append(Outgoing(topic, envelope, station_key(sid)))
            if len(batch) >= 5000:
                await producer.publish_many(batch)
                count, batch = count + len(batch), []
        if batch:
            await producer.publish_many(batch)
            count += len(batch)
    return count


async def drain(
    config: BusConfig,
    topic: str,
    url: str,
    events: int,
    profile: cProfile.Profile | None,
    gc_thresholds: tuple[int, int, int] | None = DEFAULT_THRESHOLDS,
) -> dict[str, Any]:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(define_outbox_tables(sa.MetaData()).inbox.metadata.create_all)
    factory = session_factory(engine)
    guard = inbox_guard(factory, CONSUMER)
    handled = 0
    done = asyncio.Event()

    async def handler(envelope: Envelope) -> None:
        nonlocal handled
        async with guard(envelope) as first:
            if first:
                handled += 1
                if handled >= events:
                    done.set()

    producer = Producer(config)
    await producer.start()
    consumer = EventConsumer(
        config,
        group_id=f"{topic}-group",
        topics=[topic],
        handler=handler,
        dead_letter=producer,
        batch_scope=TransactionBatch(factory, inbox_consumer=CONSUMER),
        max_poll_records=2000,
        ensure_dead_letter_topics=False,
    )
    await consumer.start()
    # As a service's lifespan does once its consumers have started (voltline_chassis.gctune); `--gc python`
    # keeps CPython's defaults, the figure before it.
    tuning = tuned_gc(gc_thresholds) if gc_thresholds else contextlib.nullcontext()
    wall, cpu = time.perf_counter(), time.process_time()
    if profile is not None:
        profile.enable()
    try:
        with tuning:
            await asyncio.wait_for(done.wait(), timeout=600)
    finally:
        if profile is not None:
            profile.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        db_cpu = _db_backend_cpu(url)
        await consumer.stop()
        await producer.stop()
        await engine.dispose()
    return {
        "database": url.split(":", 1)[0],
        "events": handled,
        "events_per_s": round(handled / wall),
        "cpu_s": round(cpu, 2),
        "events_per_cpu_s": round(handled / cpu) if cpu > 0 else None,
        "db_cpu_s": None if db_cpu is None else round(db_cpu, 2),
        "load_average": round(os.getloadavg()[0], 1),
        "gc_thresholds": list(gc_thresholds) if gc_thresholds else "python",
    }


async def run(
    bootstrap: str,
    url: str,
    events: int,
    profile: cProfile.Profile | None,
    gc_thresholds: tuple[int, int, int] | None = DEFAULT_THRESHOLDS,
) -> dict[str, Any]:
    config = BusConfig(bootstrap=bootstrap, client_id="bench-bus", idempotence=False, linger_ms=20)
    topic = f"bench-bus-{secrets.token_hex(3)}.station.events"
    produced = await fill(config, topic, events)
    return await drain(config, topic, url, produced, profile, gc_thresholds)


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.pipeline.bus")
    parser.add_argument("--kafka", default=os.environ.get("VOLTLINE_TEST_KAFKA_BOOTSTRAP"))
    parser.add_argument("--pg", default=os.environ.get("VOLTLINE_TEST_POSTGRES_DSN"))
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions of each drain")
    parser.add_argument(
        "--gc",
        default="service",
        choices=["service", "python", "both"],
        help="service: the GC as a service tunes it (voltline_chassis.gctune); python: CPython's defaults; both",
    )
    args = parser.parse_args()
    tunings = {"service": [DEFAULT_THRESHOLDS], "python": [None], "both": [None, DEFAULT_THRESHOLDS]}[args.gc]
    if not args.kafka:
        raise SystemExit("give --kafka HOST:PORT (or set VOLTLINE_TEST_KAFKA_BOOTSTRAP)")
    with tempfile.TemporaryDirectory(prefix="bench-bus-") as tmp:
        for database in args.databases.split(","):
            if database == "postgresql":
                if not args.pg:
                    raise SystemExit("give --pg DSN (or set VOLTLINE_TEST_POSTGRES_DSN)")
                url = new_database(args.pg)
            else:
                url = f"sqlite+aiosqlite:///{tmp}/bus.db"
            for thresholds in tunings:
                profile = cProfile.Profile(time.process_time) if args.profile else None
                print(json.dumps(asyncio.run(run(args.kafka, url, args.events, profile, thresholds))), flush=True)
                if profile is not None:
                    pstats.Stats(profile).sort_stats("tottime").print_stats(35)


if __name__ == "__main__":
    main()

"""Benchmark of the diagnostics service: `uv run python -m bench.diagnostics [--stations 10000 --rate 2000 ...]`.

The real service runs as its own process (`python -m voltline_diagnostics`) over real Kafka and PostgreSQL
(`--kafka`/`--postgres`, default the VOLTLINE_TEST_* variables; `--sqlite` for the embedded store). This
process plays the gateway: it publishes station events as the gateway would. Measured:

1. ingest: a backlog of `--stations` connects and first StatusNotifications, consumed at full speed (events/s);
2. latency: status changes at `--rate` events/s for `--seconds`; from the event's time (when the gateway
   would have received the frame) to the service's `diagnostics.connector_status_changed`, which its outbox
   publishes after the commit that makes the change visible in the API (so the API sees it no later);
3. the fleet list (`GET /api/v1/stations`, all stations, and filtered) answer time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from voltline_bus import BusConfig, TopicSpec, ensure_topics
from voltline_bus.headers import EVENT_ID, EVENT_TYPE, SCHEMA_VERSION, envelope_headers
from voltline_devinfra._proc import free_port
from voltline_devinfra.kafka import KafkaServer
from voltline_devinfra.postgres import ExternalPostgres
from voltline_events import Envelope, Topics, envelope_for, station_key
from voltline_events.payloads import ConnectorStatus, StationConnected

from bench.diagnostics.background import background
from bench.diagnostics.observe import PySpy, StatementStats, private_postgres, summarise
from bench.gateway.procs import Procs, cpu_seconds, rss_kib, wait_ready

TOKEN = "bench-admin-token-0123456789"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


class Changes:
    """Reads the service's connector status changes (`diagnostics.connector_statuses_changed` groups, or one
    `connector_status_changed` each from a service before them); latency = arrival - the source event's time."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.count = 0
        self.latencies: list[float] = []
        self.measuring = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False)
        await self.consumer.start()
        await self.consumer._client.force_metadata_update()
        tps = [TopicPartition(self.topic, p) for p in sorted(self.consumer.partitions_for_topic(self.topic) or [])]
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            for records in (await self.consumer.getmany(timeout_ms=200, max_records=5000)).values():
                now = time.time()
                for record in records:
                    envelope = Envelope.from_bytes(record.value or b"")
                    if envelope.type == "diagnostics.connector_statuses_changed":  # the service's groups
                        changes = envelope.payload["changes"]
                    elif envelope.type == "diagnostics.connector_status_changed":  # one change (before them)
                        changes = [envelope.payload]
                    else:
                        continue
                    self.count += len(changes)
                    if self.measuring:
                        for change in changes:
                            self.latencies.append(now - datetime.fromisoformat(change["since"]).timestamp())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self.consumer.stop()


class DatabaseCpu:
    """CPU seconds of the PostgreSQL backends serving the benchmark's database (its own connections only, not
    the shared server's other work): read from /proc, the server runs on this machine."""

    def __init__(self, admin_dsn: str | None, database: str | None) -> None:
        self.admin_dsn, self.database = admin_dsn, database
        self._seen: dict[int, float] = {}

    async def seconds(self) -> float:
        if not self.admin_dsn or not self.database:
            return 0.0
        import asyncpg

        conn = await asyncpg.connect(self.admin_dsn)
        try:
            rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", self.database)
        finally:
            await conn.close()
        for row in rows:
            with contextlib.suppress(OSError):
                self._seen[row["pid"]] = cpu_seconds(row["pid"])
        return sum(self._seen.values())  # backends gone since keep their last reading


async def batch_sizes(url: str) -> dict[str, float]:
    """Mean events per batch transaction so far, per consumer group (the service's voltline_bus_batch_size)."""
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=30) as api:
        text = (await api.get("/metrics")).text
    sums: dict[str, list[float]] = {}
    for line in text.splitlines():
        for suffix, slot in (("_sum{", 0), ("_count{", 1)):
            if line.startswith("voltline_bus_batch_size" + suffix):
                group = line.split('group="', 1)[1].split('"', 1)[0].rsplit("voltline-", 1)[-1]
                sums.setdefault(group, [0.0, 0.0])[slot] += float(line.rsplit(" ", 1)[1])
    return {g: round(total / count, 1) for g, (total, count) in sums.items() if count}


_STAGES = {
    "voltline_bus_batch_duration_seconds": "in_batches",  # the consumer inside batch transactions (wall)
    "voltline_store_batch_commit_seconds": "commits",  # of which their commits
    "voltline_outbox_relay_lag_seconds": "relay_lag",  # from an outbox row's creation to the broker's ack
}


async def stages(url: str) -> dict[str, float]:
    """Sums and counts of the service's batch and relay histograms (wall seconds; differences per phase)."""
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=30) as api:
        text = (await api.get("/metrics")).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        for metric, name in _STAGES.items():
            for suffix in ("_sum", "_count"):
                if line.startswith(metric + suffix) and (
                    metric != "voltline_bus_batch_duration_seconds" or "diagnostics" in line
                ):
                    key = name + suffix
                    out[key] = out.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def stage_split(before: dict[str, float], after: dict[str, float], wall_s: float) -> dict[str, float]:
    """Where the phase's wall time went: the share inside batch transactions (the rest: waiting for fetches, the
    offsets' commit, the event loop's other work), commits, the mean batch, and the relay's mean lag."""
    d = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    batches = d.get("in_batches_count", 0.0)
    relayed = d.get("relay_lag_count", 0.0)
    return {
        "batches": int(batches),
        "in_batches_share": round(d.get("in_batches_sum", 0.0) / wall_s, 2) if wall_s else 0.0,
        "mean_batch_ms": round(1000 * d.get("in_batches_sum", 0.0) / batches, 1) if batches else 0.0,
        "mean_commit_ms": round(1000 * d.get("commits_sum", 0.0) / max(1.0, d.get("commits_count", 0.0)), 1),
        "relay_lag_mean_ms": round(1000 * d.get("relay_lag_sum", 0.0) / relayed, 1) if relayed else 0.0,
    }


async def publish(producer: AIOKafkaProducer, topic: str, envelopes: list[tuple[str, Envelope]]) -> None:
    futures = [
        await producer.send(topic, e.to_bytes(), key=station_key(sid), headers=envelope_headers(e))
        for sid, e in envelopes
    ]
    await asyncio.gather(*futures)


def status(sid: str, value: str) -> tuple[str, Envelope]:
    event = ConnectorStatus(ocpp_version="ocpp1.6", connector_id=1, status=value, error_code="NoError")
    return sid, envelope_for(event, source="gateway/bench", station_id=sid)


class StatusFrames:
    """The steady phase's StatusNotifications pre-encoded: one envelope per status made by the library, then
    each event is that text with its own station, event id and time put in (what `status()` would encode,
    byte for byte, at a few µs instead of ~15 µs of pydantic per event: the offered load's producer shares the
    service's two cores, and must not be what limits the rate)."""

    _SID, _ID, _TIME = "BENCH-SID-PLACEHOLDER", "00000000-0000-4000-8000-000000000000", "2000-01-01T00:00:00Z"

    def __init__(self) -> None:
        self._templates: dict[str, str] = {}

    def frame(self, sid: str, value: str) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """(value, key, headers) of one StatusNotification from `sid` now."""
        template = self._templates.get(value)
        if template is None:
            event = ConnectorStatus(ocpp_version="ocpp1.6", connector_id=1, status=value, error_code="NoError")
            envelope = envelope_for(event, source="gateway/bench", station_id=self._SID).model_copy(
                update={"event_id": UUID(self._ID), "time": datetime(2000, 1, 1, tzinfo=UTC)}
            )
            text = envelope.to_bytes().decode()
            assert text.count(self._ID) == text.count(self._TIME) == text.count(self._SID) == 1, text
            template = text.replace("{", "{{").replace("}", "}}")
            template = template.replace(self._ID, "{0}").replace(self._TIME, "{1}").replace(self._SID, "{2}")
            self._templates[value] = template
        event_id = str(uuid4())
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        headers = [
            (EVENT_TYPE, b"station.connector_status"),
            (SCHEMA_VERSION, str(ConnectorStatus.VERSION).encode()),
            (EVENT_ID, event_id.encode()),
        ]
        return template.format(event_id, now, sid).encode(), station_key(sid), headers


async def seed(database: str, count: int, ports: int = 3) -> None:
    """--fleet-only: the stations and connectors written straight into the store (as ingest would leave them)."""
    from voltline_diagnostics.adapters.health_tables import connectors, stations
    from voltline_store import create_engine

    engine = create_engine(database)
    now = datetime.now(UTC)
    rows = [
        {
            "station_id": f"BENCH-{i:05d}",
            "online": i % 10 != 0,
            "since": now,
            "last_seen_at": now,
            "ocpp_version": "ocpp1.6",
            "unresponsive": False,
            "vendor": "ACME",
            "model": f"Volt-{i % 5}",
            "firmware_version": f"1.{i % 7}",
            "updated_at": now,
        }
        for i in range(count)
    ]
    rows_of_ports = [
        {
            "station_id": f"BENCH-{i:05d}",
            "evse_id": c,
            "connector_id": c,
            "ocpp_status": "Faulted" if i % 100 == 1 else "Available",
            "status": "Faulted" if i % 100 == 1 else "Available",
            "since": now,
            "reported_at": now,
            "short_sessions": 0,
        }
        for i in range(count)
        for c in range(1, ports + 1)
    ]
    async with engine.begin() as conn:
        await conn.execute(stations.insert(), rows)
        await conn.execute(connectors.insert(), rows_of_ports)
    await engine.dispose()


async def fleet_list(url: str, runs: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=60) as api:
        for name, params in (
            ("all", {}),
            ("all_10000", {"limit": "10000"}),
            ("status=Faulted", {"status": "Faulted"}),
            ("online", {"online": "true"}),
            ("model", {"model": "Volt-3"}),
        ):
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                r = await api.get("/api/v1/stations", params=params)
                times.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
            results[f"fleet_list_{name}"] = {
                "items": len(r.json()["items"]),
                "p50_ms": round(statistics.median(times) * 1000),
                "max_ms": round(max(times) * 1000),
            }
            print(f"fleet list {name}", results[f"fleet_list_{name}"], flush=True)
    return results


async def run(
    args: argparse.Namespace,
    url: str,
    bootstrap: str,
    topics: Topics,
    pid: int,
    db: DatabaseCpu,
    statements: StatementStats | None = None,
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await producer.start()
    changes = Changes(bootstrap, topics.diagnostics)
    await changes.start()
    stations = [f"BENCH-{i:05d}" for i in range(args.stations)]
    try:
        # 0. what the idle service costs per second (monitor, relay, webhook polls, the brokers' metadata):
        # on a loaded machine every phase takes longer, and this much of its CPU is not the events'
        cpu0, t0 = cpu_seconds(pid), time.time()
        await asyncio.sleep(args.idle_s)
        results["idle"] = {"cpu_per_s": round((cpu_seconds(pid) - cpu0) / (time.time() - t0), 3)}
        print("idle", results["idle"], flush=True)
        if args.background_rate:  # the e2e's background station traffic (background.py)
            bg_stations = [f"BG-{i:05d}" for i in range(args.background_stations)]
            spies: list[PySpy] = []

            def profile() -> None:
                if args.pyspy and args.only_background:  # the timed part's samples
                    spies.append(PySpy(pid, args.pyspy))

            spy = None
            try:
                results["background"] = await background(
                    url,
                    producer,
                    topics,
                    bg_stations,
                    args.background_rate,
                    args.background_s,
                    10,
                    pid,
                    db,
                    profile,
                    results["idle"]["cpu_per_s"],
                )
                spy = spies[0] if spies else None
            finally:
                for each in spies:
                    each.stop()
            if spy is not None:
                results["background"]["pyspy_stages"] = summarise(
                    spy.path, results["background"]["service_cpu_us_per_msg"]
                )
            print("background", results["background"], flush=True)
            if args.only_background:
                return results
        # 1. ingest a backlog: one connect and one first status per station
        backlog: list[tuple[str, Envelope]] = []
        for sid in stations:
            connected = StationConnected(ocpp_version="ocpp1.6", gateway_instance="bench")
            backlog.append((sid, envelope_for(connected, source="gateway/bench", station_id=sid)))
            backlog.append(status(sid, "Available"))
        cpu0, t0, db0, own0 = cpu_seconds(pid), time.time(), await db.seconds(), time.process_time()
        await publish(producer, topics.station_events, backlog)
        published = time.time() - t0
        while changes.count < len(stations):  # noqa: ASYNC110 (polling a counter another task updates)
            await asyncio.sleep(0.2)
        elapsed = time.time() - t0
        cpu = cpu_seconds(pid) - cpu0
        results["ingest"] = {
            "events": len(backlog),
            "publish_s": round(published, 2),
            "consumed_s": round(elapsed, 2),
            "events_per_s": round(len(backlog) / elapsed),
            "service_cpu_s": round(cpu, 1),
            "events_per_cpu_s": round(len(backlog) / cpu),
            "db_cpu_s": round(await db.seconds() - db0, 1),
            "bench_cpu_s": round(time.process_time() - own0, 1),  # its envelopes built before the clock starts
            "load_average": os.getloadavg()[0],
            "events_per_batch": await batch_sizes(url),
        }
        print("ingest", results["ingest"], flush=True)

        # 2. latency at a steady rate (each of --rates in turn)
        state = dict.fromkeys(stations, "Available")
        rates = [float(r) for r in args.rates.split(",")] if args.rates else [args.rate]
        for i, rate in enumerate(rates):
            key = "latency" if len(rates) == 1 else f"latency_{rate:g}"
            spy = PySpy(pid, args.pyspy) if args.pyspy and i == len(rates) - 1 else None
            if statements is not None:
                await statements.reset()
            try:
                results[key] = await steady(args, url, producer, changes, topics, stations, state, rate, pid, db)
            finally:
                if spy is not None:
                    spy.stop()
            if spy is not None:  # the last phase's samples by stage, in µs of the process's CPU per event
                cpu_us = 1e6 * results[key]["service_cpu_s"] / results[key]["events"]
                results[key]["pyspy_stages"] = summarise(spy.path, cpu_us)
            if statements is not None:
                results[key]["statements"] = await statements.read(results[key]["events"])
            print(key, results[key], flush=True)

        # 3. the fleet list
        faulted = stations[:: max(1, len(stations) // 100)]
        await publish(producer, topics.station_events, [status(sid, "Faulted") for sid in faulted])
        async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=60) as api:

            async def all_faulted() -> bool:
                r = await api.get("/api/v1/stations", params={"status": "Faulted"})
                return len(r.json()["items"]) >= len(faulted)

            while not await all_faulted():  # noqa: ASYNC110
                await asyncio.sleep(0.5)
        results.update(await fleet_list(url, args.list_runs))
    finally:
        await changes.stop()
        await producer.stop()
    return results


async def steady(
    args: argparse.Namespace,
    url: str,
    producer: AIOKafkaProducer,
    changes: Changes,
    topics: Topics,
    stations: list[str],
    state: dict[str, str],
    rate: float,
    pid: int,
    db: DatabaseCpu,
) -> dict[str, Any]:
    """Status changes offered at `rate` a second for `--seconds`: frame -> visible latency, CPU per event."""
    changes.latencies = []
    changes.measuring, before = True, changes.count
    total = int(rate * args.seconds)
    frames = StatusFrames()
    stages0 = await stages(url)
    cpu0, t0, db0, own0 = cpu_seconds(pid), time.time(), await db.seconds(), time.process_time()
    sent = 0
    while sent < total:
        due = min(total, int((time.time() - t0) * rate)) - sent
        futures = []
        for _ in range(due):
            sid = random.choice(stations)
            state[sid] = "Occupied" if state[sid] == "Available" else "Available"
            value, key, headers = frames.frame(sid, state[sid])
            futures.append(await producer.send(topics.station_events, value, key=key, headers=headers))
        if futures:
            await asyncio.gather(*futures)
            sent += len(futures)
        await asyncio.sleep(0.01)
    sending = time.time() - t0
    deadline = time.time() + 300
    while changes.count - before < total and time.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    drained = time.time() - t0
    lat = changes.latencies
    return {
        "rate_offered": rate,
        "events": total,
        "sent_s": round(sending, 1),
        "drained_s": round(drained, 1),
        "consumed_per_s": round((changes.count - before) / drained),
        # Every offered event toggles its station's status: a change that never came after 300 s was lost or its
        # station's events were handled out of order (an event equal to the status it found changes nothing).
        "changes_missing": max(0, total - (changes.count - before)),
        "p50_ms": round(pct(lat, 50) * 1000),
        "p95_ms": round(pct(lat, 95) * 1000),
        "p99_ms": round(pct(lat, 99) * 1000),
        "max_ms": round(max(lat) * 1000) if lat else None,
        "service_cpu_s": round(cpu_seconds(pid) - cpu0, 1),
        "events_per_cpu_s": round(total / max(0.001, cpu_seconds(pid) - cpu0)),
        "db_cpu_s": round(await db.seconds() - db0, 1),
        # this process (producer of the offered load and reader of the changes) shares the cores too
        "bench_cpu_s": round(time.process_time() - own0, 1),
        "load_average": os.getloadavg()[0],
        "service_rss_mib": rss_kib(pid) // 1024,
        "events_per_batch_so_far": await batch_sizes(url),
        "stages": stage_split(stages0, await stages(url), drained),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kafka", default=os.environ.get("VOLTLINE_TEST_KAFKA_BOOTSTRAP"))
    parser.add_argument("--postgres", default=os.environ.get("VOLTLINE_TEST_POSTGRES_DSN"))
    parser.add_argument("--sqlite", action="store_true", help="the embedded store instead of PostgreSQL")
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=2000, help="status changes per second in the latency phase")
    parser.add_argument("--rates", help="several offered rates in turn, e.g. 250,500,1000 (instead of --rate)")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--list-runs", type=int, default=10)
    parser.add_argument("--idle-s", type=float, default=10, help="seconds the idle service's CPU is measured")
    parser.add_argument("--connectors", type=int, default=3, help="--fleet-only: connectors per station")
    parser.add_argument("--private-kafka", action="store_true", help="start a Kafka broker of its own for the run")
    parser.add_argument("--profile", help="run the service under cProfile and write its stats to this file")
    parser.add_argument("--pyspy", help="record the service with py-spy in the last steady phase (raw stacks here)")
    parser.add_argument(
        "--pg-stats", action="store_true", help="a private PostgreSQL with pg_stat_statements; per-phase statements"
    )
    parser.add_argument(
        "--background-rate", type=float, default=0, help="first, the e2e's background mix at this many msg/s"
    )
    parser.add_argument("--background-stations", type=int, default=1000)
    parser.add_argument("--background-s", type=float, default=20, help="the background's timed seconds")
    parser.add_argument("--only-background", action="store_true", help="the background phase only")
    parser.add_argument("--fleet-only", action="store_true", help="seed the store directly; time the fleet list only")
    args = parser.parse_args()
    broker = server = None
    if args.pg_stats:  # the server's statements of each phase (a private server: its statistics are the bench's)
        server = private_postgres()
        args.postgres = server.admin_dsn()
    if args.private_kafka:  # a broker of its own: a shared one with thousands of topics makes every client
        broker = KafkaServer().start()  # decode huge metadata responses, which then dominates the service's CPU
        args.kafka = broker.bootstrap_servers
    try:
        _run(args)
    finally:
        if broker is not None:
            broker.stop()
        if server is not None:
            server.stop()


def _run(args: argparse.Namespace) -> None:
    if not args.kafka or not (args.postgres or args.sqlite):
        sys.exit("give --kafka and --postgres (or --sqlite), or set VOLTLINE_TEST_KAFKA_BOOTSTRAP/_POSTGRES_DSN")
    prefix = f"bench-{secrets.token_hex(3)}."
    workdir = Path(tempfile.mkdtemp(prefix="bench-diagnostics-"))
    if args.sqlite:
        database = f"sqlite+aiosqlite:///{workdir}/diagnostics.db"
        pg, db_name = None, None
    else:
        pg, db_name = ExternalPostgres(args.postgres), f"bench_diag_{secrets.token_hex(3)}"
        database = pg.create_database(db_name)
    topics = Topics(prefix)
    asyncio.run(
        ensure_topics(
            BusConfig(bootstrap=args.kafka, client_id="bench"),
            [TopicSpec(topics.station_events, partitions=6), TopicSpec(topics.diagnostics, partitions=6)],
        )
    )
    port = free_port()
    (workdir / "logs").mkdir()
    procs = Procs(workdir / "logs")
    env = {
        "VOLTLINE_KAFKA_BOOTSTRAP": args.kafka,
        "VOLTLINE_TOPIC_PREFIX": prefix,
        "VOLTLINE_ADMIN_TOKEN": TOKEN,
        "VOLTLINE_HTTP_PORT": str(port),
        "VOLTLINE_DATABASE_URL": database,
        "VOLTLINE_INSTANCE_ID": "bench-diagnostics",
        "VOLTLINE_LOG_LEVEL": "WARNING",
        "VOLTLINE_INVENTORY_ON_FIRST_BOOT": "false",
    }
    command = [sys.executable, "-m", "voltline_diagnostics"]
    if args.profile:  # the service under cProfile; the stats are written when it stops
        command = [sys.executable, "-m", "bench.diagnostics.profiled", args.profile]
    service = procs.spawn("diagnostics", command, env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url)
        if args.fleet_only:
            asyncio.run(seed(database, args.stations, args.connectors))
            results = asyncio.run(fleet_list(url, args.list_runs))
        else:
            db = DatabaseCpu(pg.admin_dsn() if pg else None, db_name)
            statements = StatementStats(pg.admin_dsn(), db_name) if args.pg_stats and pg and db_name else None
            results = asyncio.run(run(args, url, args.kafka, topics, service.pid, db, statements))
        store = "SQLite" if args.sqlite else "PostgreSQL"
        print(json.dumps({"store": store, "stations": args.stations, **results}, indent=2))
    finally:
        procs.stop_all()
        if pg is not None and db_name is not None:
            pg.drop_database(db_name)


if __name__ == "__main__":
    main()

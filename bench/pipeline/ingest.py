"""How fast each consuming service ingests its events, one process, on PostgreSQL or SQLite.

The backlog is produced first (the realistic mix a gateway publishes), then the real service process
starts and drains it; the figure is events consumed per second between its first handled event and
lag zero, read from its own `/readyz` details (consumer lag) and `/metrics`.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from voltline_bus import BusConfig, Outgoing, Producer, TopicSpec, ensure_topics
from voltline_devinfra._proc import free_port
from voltline_events import Envelope, Topics, envelope_for, station_key
from voltline_events.payloads import (
    BootNotification,
    ConnectorStatus,
    Heartbeat,
    IdToken,
    MeterSample,
    SampledValue,
    StationConnected,
    StationTransaction,
)
from voltline_events.payloads.sessions import SessionEnded, SessionStarted, SessionUpdated

from bench.gateway.procs import Procs, cpu_seconds

PY = sys.executable
TOKEN = "bench-admin-token-0123456789"
SERVICES = {"session": "voltline_session", "auth": "voltline_auth", "billing": "voltline_billing"}
# Every consumer group of the process, whose lags are summed: billing's own group reads each session event once
# (CDR and cost paths, ADR 0030), its cost group billing's own events (CDRs, cost announcements) made meanwhile.
GROUPS = {
    "session": ["voltline-session"],
    "auth": ["voltline-auth-events"],
    "billing": ["voltline-billing", "voltline-billing-costs"],
}


def station_mix(stations: int, events: int, seed: int = 7) -> Iterator[tuple[str, Envelope]]:
    """What a gateway publishes: connect, boot, start, then MeterValues inside the transaction (60%),
    StatusNotification (20%) and Heartbeat (20%), stations interleaved."""
    rnd = random.Random(seed)
    t0 = datetime.now(UTC) - timedelta(hours=2)
    ids = [f"BENCH-{i:05d}" for i in range(stations)]
    wh = dict.fromkeys(ids, 0)
    for n, sid in enumerate(ids):
        yield (
            sid,
            envelope_for(StationConnected(ocpp_version="ocpp1.6", gateway_instance="gw"), source="gw", station_id=sid),
        )
        boot = BootNotification(ocpp_version="ocpp1.6", vendor="Bench", model="B1", raw={})
        yield sid, envelope_for(boot, source="gw", station_id=sid)
        start = StationTransaction(
            ocpp_version="ocpp1.6",
            kind="started",
            transaction_id=str(n + 1),
            timestamp=t0,
            connector_id=1,
            id_token=IdToken(id_token=f"TAG-{n}", type="ISO14443"),
            meter_start_wh=0,
        )
        yield sid, envelope_for(start, source="gw", station_id=sid)
    produced = 3 * stations
    step = 0
    while produced < events:
        step += 1
        at = t0 + timedelta(seconds=10 * step)
        for n, sid in enumerate(ids):
            roll = rnd.random()
            if roll < 0.6:
                wh[sid] += rnd.randint(10, 40)
                sample = MeterSample(
                    timestamp=at,
                    values=[
                        SampledValue(value=str(wh[sid]), measurand="Energy.Active.Import.Register", unit="Wh"),
                        SampledValue(value="11000", measurand="Power.Active.Import", unit="W"),
                    ],
                )
                event: Any = StationTransaction(
                    ocpp_version="ocpp1.6",
                    kind="updated",
                    transaction_id=str(n + 1),
                    timestamp=at,
                    meter_values=[sample],
                )
            elif roll < 0.8:
                event = ConnectorStatus(ocpp_version="ocpp1.6", timestamp=at, connector_id=1, status="Charging")
            else:
                event = Heartbeat(ocpp_version="ocpp1.6")
            yield sid, envelope_for(event, source="gw", station_id=sid)
            produced += 1
            if produced >= events:
                return


def session_mix(sessions: int, events: int) -> Iterator[tuple[str, Envelope]]:
    """What the session service publishes: starts, many updates, ends (about 1 in 10 sessions end)."""
    t0 = datetime.now(UTC) - timedelta(hours=2)
    ids = [(str(uuid4()), f"BENCH-{i:05d}") for i in range(sessions)]
    for sid, station in ids:
        started = SessionStarted(session_id=sid, station_id=station, started_at=t0, id_token="TAG", connector_id=1)
        yield station, envelope_for(started, source="session", station_id=station, session_id=sid)
    produced, step = sessions, 0
    while produced < events:
        step += 1
        for sid, station in ids:
            at = t0 + timedelta(seconds=60 * step)
            updated = SessionUpdated(session_id=sid, station_id=station, energy_wh=step * 180, power_w=11000, at=at)
            yield station, envelope_for(updated, source="session", station_id=station, session_id=sid)
            produced += 1
            if produced >= events:
                break
    for sid, station in ids[: max(1, sessions // 10)]:
        ended = SessionEnded(
            session_id=sid,
            station_id=station,
            started_at=t0,
            ended_at=t0 + timedelta(seconds=60 * step),
            energy_wh=step * 180,
            connector_id=1,
            id_token="TAG",
        )
        yield station, envelope_for(ended, source="session", station_id=station, session_id=sid)


async def produce(bootstrap: str, prefix: str, service: str, events: int) -> int:
    topics = Topics(prefix)
    config = BusConfig(bootstrap=bootstrap, client_id="bench-ingest", idempotence=False, linger_ms=20)
    await ensure_topics(
        config,
        [
            TopicSpec(topics.station_events, partitions=6),
            TopicSpec(topics.sessions, partitions=6),
            TopicSpec(topics.auth_requests, partitions=6),
        ],
    )
    if service == "billing":
        topic, items = topics.sessions, session_mix(max(50, events // 100), events)
    else:
        topic, items = topics.station_events, station_mix(max(50, events // 100), events)
    count = 0
    async with Producer(config) as producer:
        batch: list[Outgoing] = []
        for sid, envelope in items:
            batch.append(Outgoing(topic, envelope, station_key(sid)))
            if len(batch) >= 5000:
                await producer.publish_many(batch)
                count += len(batch)
                batch = []
        if batch:
            await producer.publish_many(batch)
            count += len(batch)
    return count


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


def _lag(base: str, groups: list[str]) -> int | None:
    try:
        body = json.loads(_get(f"{base}/readyz"))
    except OSError:
        return None
    except ValueError:
        return None
    lags = body.get("details", {}).get("consumer_lag")
    if not isinstance(lags, dict):
        return None
    wanted = [v for g, v in lags.items() if any(g.endswith(x) for x in groups)]
    if not wanted or any(not isinstance(v, dict) or not v for v in wanted):
        return None
    return sum(sum(v.values()) for v in wanted)


def run_one(procs: Procs, bootstrap: str, service: str, database_url: str, events: int) -> dict[str, Any]:
    prefix = f"bench-{secrets.token_hex(3)}."
    produced = asyncio.run(produce(bootstrap, prefix, service, events))
    port = free_port()
    env = {
        "VOLTLINE_KAFKA_BOOTSTRAP": bootstrap,
        "VOLTLINE_KAFKA_IDEMPOTENCE": "false",
        "VOLTLINE_TOPIC_PREFIX": prefix,
        "VOLTLINE_ADMIN_TOKEN": TOKEN,
        "VOLTLINE_INSTANCE_ID": f"bench-{service}",
        "VOLTLINE_HTTP_PORT": str(port),
        "VOLTLINE_DATABASE_URL": database_url,
        "VOLTLINE_LOG_LEVEL": "WARNING",
        "VOLTLINE_PAYMENT_RETRY_INTERVAL_S": "0",
        # auth's station events as a gateway before ADR 0037 left them: every one on the station stream (its
        # lifecycle consumer reads only connects, boots, disconnects and Authorize answers: ~nothing of this mix).
        "VOLTLINE_PRESENCE_SOURCE": "station-events",
    }
    proc = procs.spawn(f"{service}", [PY, "-m", SERVICES[service]], env)
    base = f"http://127.0.0.1:{port}"
    timeline: list[tuple[float, int]] = []
    started = time.monotonic()
    first: float | None = None
    first_lag = produced
    cpu0 = 0.0
    try:
        deadline = started + 900
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{service} exited; see {proc.log_path}")  # type: ignore[attr-defined]
            lag = _lag(base, GROUPS[service])
            now = time.monotonic()
            if lag is not None:
                if first is None:  # the consumer is up: measure what is left from here
                    first, first_lag, cpu0 = now, lag, cpu_seconds(proc.pid)
                timeline.append((round(now - started, 1), lag))
                if lag == 0 and first is not None:
                    break
            time.sleep(0.25)
        else:
            raise TimeoutError(f"{service} did not drain its backlog; last lag {timeline[-1:]}")
        drained = time.monotonic()
        cpu = cpu_seconds(proc.pid) - cpu0
        db_cpu = _db_backend_cpu(database_url)
    finally:
        procs.stop(proc)
    elapsed = max(drained - (first or drained), 1e-3)
    return {
        "service": service,
        "database": database_url.split(":", 1)[0],
        "events": produced,
        "measured_events": first_lag,
        "seconds": round(elapsed, 2),
        # None: the backlog was gone before the first reading (faster than this can measure).
        "events_per_s": round(first_lag / elapsed) if first_lag else None,
        "cpu_s": round(cpu, 1),
        "events_per_cpu_s": round(first_lag / cpu) if first_lag and cpu > 0 else None,
        # The share of the drain the process was on a core: below 1, it waited (for the database, the broker, a core).
        "busy_share": round(cpu / elapsed, 2),
        # PostgreSQL: CPU of the server processes serving this database (from their start: migrations included)
        "db_cpu_s": None if db_cpu is None else round(db_cpu, 1),
        "load_average": round(os.getloadavg()[0], 1),
        "lag_timeline": timeline[:: max(1, len(timeline) // 12)],
    }


def _db_backend_cpu(database_url: str) -> float | None:
    """CPU seconds of the PostgreSQL backends connected to this URL's database (their titles name it)."""
    if not database_url.startswith("postgresql"):
        return None
    name = database_url.rsplit("/", 1)[1].split("?")[0]
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if title.startswith("postgres:") and f" {name} " in title:
                total += cpu_seconds(int(entry.name))
        except (OSError, ValueError):
            continue
    return total


def new_database(pg_dsn: str) -> str:
    """A fresh database on the given PostgreSQL server, as an asyncpg URL."""
    import asyncpg

    name = f"bench_{secrets.token_hex(4)}"

    async def create() -> None:
        conn = await asyncpg.connect(pg_dsn)
        try:
            await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()

    asyncio.run(create())
    base = pg_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"

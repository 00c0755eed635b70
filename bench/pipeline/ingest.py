"""How fast each consuming service ingests its events, one process, on PostgreSQL or SQLite.

The backlog is produced first (the realistic mix a gateway publishes), then the real service process
starts and drains it. The bench watches from outside, asking the service nothing: the drain runs from the
moment its consumer groups have a member (the join; fetching starts right after) to the moment the groups'
committed offsets cover the backlog (read by an admin client every 20 ms; the service commits as soon as it has
caught up). It prints the whole drain's rate (the headline), the steady rate between 10% and 90% of the backlog
committed (the start-up's share is the difference), the process's CPU seconds over the drain, events per CPU-s
and the share of the drain it was on a core.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
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


_WATCH_S = 0.02  # how often the bench reads the group's committed offsets
_ASK_S = 10.0  # an admin request not answered by then hung (see _watch): the run is void


async def _watch(
    bootstrap: str, groups: list[str], proc: Any, produced: int, limit_s: float, on_join: Callable[[], None]
) -> tuple[float, float, list[tuple[float, int]], dict[str, list[tuple[float, int]]]]:
    """Watch the service's consumer groups from outside (the service is not asked anything): the moment every
        group has a member (fetching starts right after the join), then the groups' committed offsets every 20 ms
        until they cover the backlog. Returns (joined_at, cpu at join, [(monotonic time, records committed)], and the
    same per group).

        A watched consumer commits as soon as it has caught up (VOLTLINE_CONSUMER_COMMIT_CAUGHT_UP, set below), so the
        last point is the drain's end to within this poll and one commit round trip; the ones before come every
        commit interval (1 s)."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-ingest-watch")
    await admin.start()
    try:
        deadline = time.monotonic() + limit_s
        joined: set[str] = set()
        while len(joined) < len(groups):
            _alive(proc, deadline)
            responses = []
            for group_id in [g for g in groups if g not in joined]:  # one group a request (below)
                try:
                    responses += await asyncio.wait_for(admin.describe_consumer_groups([group_id]), _ASK_S)
                except KafkaError:  # a fresh broker has no group coordinator yet: ask again
                    pass
                except TimeoutError:
                    # Seen with billing's two groups in one request: aiokafka failed to decode the answer
                    # ("Buffer underrun") and never completed the request, and the run hung until its limit.
                    # The join may have been missed meanwhile, so the run is void, not measured late.
                    raise RuntimeError("the admin client did not answer: run again") from None
            for response in responses:
                for group in response.groups:  # (error, id, state, protocol type, protocol, members)
                    if group[2] == "Stable" and group[5]:
                        joined.add(group[1])
            await asyncio.sleep(_WATCH_S)
        joined_at, cpu0 = time.monotonic(), cpu_seconds(proc.pid)
        on_join()
        points: list[tuple[float, int]] = [(joined_at, 0)]
        by_group: dict[str, list[tuple[float, int]]] = {group: [(joined_at, 0)] for group in groups}
        while points[-1][1] < produced:
            _alive(proc, deadline)
            committed = 0
            for group in groups:
                try:
                    offsets = await asyncio.wait_for(admin.list_consumer_group_offsets(group), _ASK_S)
                except TimeoutError:
                    raise RuntimeError("the admin client did not answer: run again") from None
                mine = sum(max(0, o.offset) for o in offsets.values())
                if mine != by_group[group][-1][1]:
                    by_group[group].append((time.monotonic(), mine))
                committed += mine
            if committed != points[-1][1]:
                points.append((time.monotonic(), committed))
            await asyncio.sleep(_WATCH_S)
        return joined_at, cpu0, points, by_group
    finally:
        await admin.close()


def _alive(proc: Any, deadline: float) -> None:
    if proc.poll() is not None:
        raise RuntimeError(f"the service exited; see {proc.log_path}")
    if time.monotonic() > deadline:
        raise TimeoutError("the service did not drain its backlog in time")


def _steady(points: list[tuple[float, int]], total: int, low: float = 0.1, high: float = 0.9) -> float | None:
    """Events/s between the first committed point at or past `low` of the backlog and the last one at or below
    `high` (commits come every second: a short drain may have no two such points)."""
    inside = [(t, n) for t, n in points if low * total <= n <= high * total]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return None
    (t0, n0), (t1, n1) = inside[0], inside[-1]
    return (n1 - n0) / (t1 - t0)


def run_one(
    procs: Procs,
    bootstrap: str,
    service: str,
    database_url: str,
    events: int,
    *,
    profile: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> dict[str, Any]:
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
        "VOLTLINE_CONSUMER_COMMIT_CAUGHT_UP": "true",
        # auth's station events as a gateway before ADR 0037 left them: every one on the station stream (its
        # lifecycle consumer reads only connects, boots, disconnects and Authorize answers: ~nothing of this mix).
        "VOLTLINE_PRESENCE_SOURCE": "station-events",
        **(extra_env or {}),
    }
    proc = procs.spawn(f"{service}", [PY, "-m", SERVICES[service]], env)
    groups = [f"{prefix}{g}" for g in GROUPS[service]]
    spy: subprocess.Popen[bytes] | None = None

    def joined() -> None:
        nonlocal spy
        if profile is not None:  # py-spy from the join: start-up (imports, migrations) stays out of the profile
            spy = _pyspy(proc.pid, profile)

    try:
        joined_at, cpu0, points, by_group = asyncio.run(_watch(bootstrap, groups, proc, produced, 900, joined))
        drained = points[-1][0]
        cpu = cpu_seconds(proc.pid) - cpu0
        db_cpu = _db_backend_cpu(database_url)
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its profile on SIGINT
            spy.wait(timeout=60)
        procs.stop(proc)
    elapsed = max(drained - joined_at, 1e-3)
    steady = _steady(points, produced)
    return {
        "service": service,
        "database": database_url.split(":", 1)[0],
        "events": produced,
        # The whole drain (the headline figure): from the group's join to every record committed.
        "seconds": round(elapsed, 2),
        "events_per_s": round(produced / elapsed),
        # Between 10% and 90% of the backlog committed: without the start-up (first fetches, cold caches).
        "steady_events_per_s": None if steady is None else round(steady),
        "cpu_s": round(cpu, 2),
        "events_per_cpu_s": round(produced / cpu) if cpu > 0 else None,
        # The share of the drain the process was on a core: below 1, it waited (for the database, the broker, a core).
        "busy_share": round(cpu / elapsed, 2),
        # PostgreSQL: CPU of the server processes serving this database (from their start: migrations included)
        "db_cpu_s": None if db_cpu is None else round(db_cpu, 1),
        "load_average": round(os.getloadavg()[0], 1),
        "committed_timeline": [(round(t - joined_at, 2), n) for t, n in points][:: max(1, len(points) // 12)],
        # Each group's own commits (billing: its session events' group, then its cost group's own events).
        "group_timelines": {
            group.removeprefix(prefix): [(round(t - joined_at, 2), n) for t, n in timeline]
            for group, timeline in by_group.items()
        },
    }


def _pyspy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy (from PyPI) samples the service at 250 Hz into `out` (raw collapsed stacks) until SIGINT."""
    args = ["py-spy", "record", "-p", str(pid), "-r", "250", "-f", "raw", "-o", str(out), "--nonblocking"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


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

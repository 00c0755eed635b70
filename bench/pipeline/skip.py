"""What one consuming service pays for station traffic it does not need: `uv run python -m bench.pipeline.skip`.

The service (auth or analytics) runs alone as a process on SQLite. The benchmark publishes what gateways publish
for the realistic mix (per station and cycle of 10 calls: 6 meter readings of ten sampled values, 2 status
notifications, 2 heartbeats; 1.6 and 2.0.1 stations alternating; the envelopes and headers the gateway's own
code makes, plus the lifecycle copies of ADR 0037): every station's connect first (not measured), then the
cycles at `--rate` messages/s for `--seconds`. It prints the service's CPU microseconds per station message over
that window, and net of what the service costs idle (measured before, as long, once the connects are read).
The e2e benchmark's per-process table is this figure with every other process competing for the cores; alone,
runs of different code compare even on a busy machine.

Run one tree against another by PYTHONPATH (each tree's `services/*/src` and `libs/*/src`), or auth's two
presence sources with `--env VOLTLINE_PRESENCE_SOURCE=station-events`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from voltline_bus import BusConfig, TopicSpec, ensure_topics
from voltline_devinfra._proc import free_port
from voltline_events import Topics, station_key
from voltline_events.payloads import ConnectorStatus, Heartbeat, StationConnected
from voltline_gateway.adapters.envelopes import encode
from voltline_gateway.domain.normalise import meter_values, transaction_event

from bench.gateway.payloads import calls
from bench.gateway.procs import Procs, cpu_seconds, wait_ready

PY = sys.executable
TOKEN = "bench-admin-token-0123456789"
MODULES = {"auth": "voltline_auth", "analytics": "voltline_analytics"}
LIFECYCLE = {"station.connected", "station.boot_notification", "station.disconnected", "station.authorize_answered"}


def _frames(stations: int) -> list[list[tuple[str, bytes, list[tuple[str, bytes]]]]]:
    """Per station, its connect then one cycle of the mix: (station id, value, headers) as the gateway encodes."""
    out = []
    for n in range(stations):
        version = "ocpp1.6" if n % 2 else "ocpp2.0.1"
        sid = f"SKIP-{n:05d}"
        cycle: list[Any] = [StationConnected(ocpp_version=version, gateway_instance="gw")]  # type: ignore[arg-type]
        for action, payload in calls(version):
            if action == "MeterValues":
                cycle.append(meter_values(version, payload))
            elif action == "TransactionEvent":
                cycle.append(transaction_event(version, payload))
            elif action == "StatusNotification":
                cycle.append(ConnectorStatus(ocpp_version=version, connector_id=1, status="Occupied"))  # type: ignore[arg-type]
            else:
                cycle.append(Heartbeat(ocpp_version=version))  # type: ignore[arg-type]
        out.append([(sid, *encode(event, source="gateway/bench", station_id=sid)) for event in cycle])
    return out


async def publish(
    bootstrap: str, topics: Topics, rate: float, seconds: float, frames: list[list[tuple[str, bytes, Any]]]
) -> int:
    """The mix at `rate` messages/s (each station's connect is `frames[n][0]`, then its cycle), with the lifecycle
    copies a gateway of ADR 0037 makes. `seconds` 0: the connects only."""
    stations = len(frames)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks=1)
    await producer.start()
    sent = 0
    try:
        started = time.monotonic()
        position = [1 if seconds else 0] * stations
        pending = []
        if not seconds:
            rate, seconds = stations, 1.0
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(elapsed * rate)
            while sent < due:
                n = sent % stations
                sid, value, headers = frames[n][position[n]]
                position[n] = 1 + (position[n] % (len(frames[n]) - 1)) if position[n] else 0
                kind = dict(headers)["event_type"].decode()
                key = station_key(sid)
                pending.append(await producer.send(topics.station_events, value, key=key, headers=headers))
                if kind in LIFECYCLE:
                    pending.append(await producer.send(_lifecycle(topics), value, key=key, headers=headers))
                sent += 1
            await asyncio.sleep(0.005)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


def _lifecycle(topics: Topics) -> str:
    """The lifecycle topic's name, also when the code under test (by PYTHONPATH) is older than ADR 0037."""
    return f"{topics.prefix}voltline.station.lifecycle.v1"


def _drained(port: int, within: float = 120.0) -> None:
    """Until every consumer group of the service reports lag 0 in /readyz (or `within` seconds)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
                lags = json.loads(response.read()).get("details", {}).get("consumer_lag")
        except (OSError, ValueError):
            lags = None
        if isinstance(lags, dict) and lags and all(isinstance(v, dict) and not any(v.values()) for v in lags.values()):
            return
        if lags is None and time.monotonic() > deadline - within + 10:
            return  # no lag in /readyz (analytics): ten seconds for the last records
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.pipeline.skip")
    parser.add_argument("--service", choices=sorted(MODULES), default="auth")
    parser.add_argument("--kafka", default=os.environ.get("VOLTLINE_TEST_KAFKA_BOOTSTRAP"))
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="a setting for the service")
    args = parser.parse_args()
    prefix = f"bench-{secrets.token_hex(3)}."
    topics = Topics(prefix)
    config = BusConfig(bootstrap=args.kafka, client_id="bench-skip", idempotence=False)
    names = [topics.station_events, topics.sessions, topics.billing, topics.diagnostics]
    specs = [TopicSpec.of(name) for name in names] + [TopicSpec(_lifecycle(topics), partitions=6)]
    asyncio.run(ensure_topics(config, specs))
    with tempfile.TemporaryDirectory(prefix="bench-skip-") as tmp:
        procs = Procs(Path(tmp))
        port = free_port()
        env = {
            "VOLTLINE_KAFKA_BOOTSTRAP": args.kafka,
            "VOLTLINE_KAFKA_IDEMPOTENCE": "false",
            "VOLTLINE_TOPIC_PREFIX": prefix,
            "VOLTLINE_ADMIN_TOKEN": TOKEN,
            "VOLTLINE_INSTANCE_ID": f"bench-{args.service}",
            "VOLTLINE_HTTP_PORT": str(port),
            "VOLTLINE_LOG_LEVEL": "WARNING",
            "VOLTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/{args.service}.db",
            **dict(item.split("=", 1) for item in args.env),
        }
        proc = procs.spawn(args.service, [PY, "-m", MODULES[args.service]], env)
        try:
            wait_ready(f"http://127.0.0.1:{port}", timeout=300)
            frames = _frames(args.stations)
            asyncio.run(publish(args.kafka, topics, 0, 0, frames))  # every station connects (not measured)
            _drained(port)  # start-up work and the connects out of the idle figure
            time.sleep(2)
            idle0 = cpu_seconds(proc.pid)
            time.sleep(args.seconds)
            idle = cpu_seconds(proc.pid) - idle0
            cpu0, load0, started = cpu_seconds(proc.pid), os.getloadavg()[0], time.monotonic()
            sent = asyncio.run(publish(args.kafka, topics, args.rate, args.seconds, frames))
            _drained(port)  # what arrived last is read
            cpu = cpu_seconds(proc.pid) - cpu0
            window = time.monotonic() - started
        finally:
            procs.stop(proc)
    result = {
        "service": args.service,
        "env": args.env,
        "messages": sent,
        "cpu_s": round(cpu, 2),
        "idle_cpu_s": round(idle, 2),
        "cpu_us_per_message": round(1e6 * cpu / sent),
        "window_s": round(window, 1),
        "net_of_idle_us_per_message": round(1e6 * (cpu - idle * window / args.seconds) / sent),
        "load_average": [round(load0, 1), round(os.getloadavg()[0], 1)],
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

"""The e2e bench's background station traffic, as the gateway publishes it, offered to the diagnostics service alone.

`bench.pipeline e2e --parts authorize` drives 1,000 stations at 2,000 msg/s through every service; diagnostics
paid 136-152 µs of CPU per background message there (issue 12). This phase offers the same events without the
other services, so what diagnostics pays per background message can be measured (and profiled) by itself:
per station and cycle of 10 calls, 6 MeterValues inside a transaction (1.6: `station.transaction` updated from
MeterValues; 2.x: TransactionEvent Updated), 2 unchanged StatusNotifications and 2 Heartbeats
(bench/gateway/payloads.py), half the stations 1.6 and half 2.0.1, each event's payload built by the gateway's
own normalisation and envelope (bytes as the gateway writes them; only the event id, time and station differ).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
from aiokafka import AIOKafkaProducer
from voltline_bus.headers import EVENT_ID, EVENT_TYPE, SCHEMA_VERSION
from voltline_events import Envelope, Topics, station_key
from voltline_events.payloads import Heartbeat
from voltline_gateway.domain import normalise

from bench.gateway.payloads import StationFeed
from bench.gateway.procs import cpu_seconds

_SID, _ID, _TIME = "BENCH-SID-PLACEHOLDER", "00000000-0000-4000-8000-000000000000", "2000-01-01T00:00:00Z"


def _prepared(version: str, action: str, payload: dict[str, Any]) -> Any:
    if action == "Heartbeat":
        return Heartbeat(ocpp_version=version)
    if action == "StatusNotification":
        return normalise.connector_status(version, payload).event()
    if action == "StartTransaction":
        return normalise.start_transaction_16(payload, 4242)
    if action == "MeterValues":
        return normalise.meter_values(version, payload).event()
    return normalise.transaction_event(version, payload).event()


class Template:
    """One call of a station's cycle as the gateway's envelope, with the station, event id and time put in."""

    def __init__(self, version: str, action: str, payload: dict[str, Any]) -> None:
        event = _prepared(version, action, payload)
        envelope = Envelope(
            type=event.TYPE,
            schema_version=event.VERSION,
            source="gateway/bench",
            station_id=_SID,
            message_id="1",
            event_id=UUID(_ID),
            time=datetime(2000, 1, 1, tzinfo=UTC),
            payload=event.model_dump(mode="json", exclude_none=True),
        )
        text = envelope.to_bytes().decode()
        assert text.count(_ID) == text.count(_TIME) == text.count(_SID) == 1, text
        self.type, self.version = event.TYPE.encode(), str(event.VERSION).encode()
        text = text.replace("{", "{{").replace("}", "}}")
        self.text = text.replace(_ID, "{0}").replace(_TIME, "{1}").replace(_SID, "{2}")

    def frame(self, sid: str) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        event_id = str(uuid4())
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        headers = [(EVENT_TYPE, self.type), (SCHEMA_VERSION, self.version), (EVENT_ID, event_id.encode())]
        return self.text.format(event_id, now, sid).encode(), station_key(sid), headers


class Mix:
    """Every station's cycle (its transaction's start first), stations 1.6 and 2.0.1 alternately."""

    def __init__(self, stations: list[str]) -> None:
        versions = ("ocpp1.6", "ocpp2.0.1")
        self.cycles: dict[str, list[Template]] = {}
        self.starts: dict[str, Template] = {}
        for version in versions:
            feed = StationFeed(version, "BENCH")
            feed.transaction = feed.transaction or 4242
            start = next(feed)
            import orjson

            _, _, action, payload = orjson.loads(start)
            self.starts[version] = Template(version, action, payload)
            self.cycles[version] = [Template(version, *self._call(feed)) for _ in range(10)]
        self.stations = [(sid, versions[i % 2]) for i, sid in enumerate(stations)]
        self.position = dict.fromkeys(stations, 0)

    @staticmethod
    def _call(feed: StationFeed) -> tuple[str, dict[str, Any]]:
        import orjson

        _, _, action, payload = orjson.loads(next(feed))
        return action, payload

    def start(self, sid: str, version: str) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        return self.starts[version].frame(sid)

    def next(self, sid: str, version: str) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        n = self.position[sid]
        self.position[sid] = (n + 1) % 10
        return self.cycles[version][n].frame(sid)


async def _consumed(url: str, topic: str) -> float:
    """Station event records the service's consumers received (voltline_bus_messages_consumed_total)."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as api:
        text = (await api.get("/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("voltline_bus_messages_consumed_total{") and f'topic="{topic}"' in line
    )


async def offer(
    producer: AIOKafkaProducer, topic: str, frames: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]
) -> None:
    futures = [await producer.send(topic, v, key=k, headers=h) for v, k, h in frames]
    await asyncio.gather(*futures)


async def background(
    url: str,
    producer: AIOKafkaProducer,
    topics: Topics,
    stations: list[str],
    rate: float,
    seconds: float,
    warmup_s: float,
    pid: int,
    db: Any,
    on_timed: Callable[[], None] | None = None,
    idle_cpu_per_s: float = 0.0,
) -> dict[str, Any]:
    """The mix at `rate` msg/s over `stations` for `warmup_s` (not counted), then `seconds` (counted): the service's
    CPU per message, with the server's (PostgreSQL) and the load average."""
    mix = Mix(stations)
    topic = topics.station_events
    await offer(producer, topic, [mix.start(sid, v) for sid, v in mix.stations])
    result: dict[str, Any] = {"stations": len(stations), "rate_offered": rate}
    for phase, duration in (("warmup", warmup_s), ("timed", seconds)):
        if phase == "timed" and on_timed is not None:
            on_timed()  # e.g. a profiler's start
        consumed0 = await _consumed(url, topic)
        cpu0, db0, t0 = cpu_seconds(pid), await db.seconds(), time.time()
        total, sent, turn = int(rate * duration), 0, 0
        while sent < total:
            due = min(total, int((time.time() - t0) * rate)) - sent
            frames = []
            for _ in range(due):
                sid, version = mix.stations[turn % len(mix.stations)]
                turn += 1
                frames.append(mix.next(sid, version))
            if frames:
                await offer(producer, topic, frames)
                sent += len(frames)
            await asyncio.sleep(0.01)
        sending = time.time() - t0
        deadline = time.time() + 300
        while await _consumed(url, topic) - consumed0 < total and time.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        drained = time.time() - t0
        if phase == "timed":
            cpu = cpu_seconds(pid) - cpu0
            result.update(
                {
                    "messages": total,
                    "sent_s": round(sending, 1),
                    "drained_s": round(drained, 1),
                    "service_cpu_s": round(cpu, 2),
                    "service_cpu_us_per_msg": round(1e6 * cpu / total, 1),
                    # without what the process costs doing nothing for as long (monitor, relay, readers' polls):
                    # on a loaded machine the phase takes longer, and that part grows with it, not with the messages
                    "net_of_idle_us_per_msg": round(1e6 * max(0.0, cpu - idle_cpu_per_s * drained) / total, 1),
                    "db_cpu_us_per_msg": round(1e6 * (await db.seconds() - db0) / total, 1),
                    "load_average": os.getloadavg()[0],
                }
            )
    return result

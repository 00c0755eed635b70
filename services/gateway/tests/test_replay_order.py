"""The spool's replay keeps each station's order (ADR 0045): a model of the broker under the batch writer, no I/O.

For any interleaving of publishes, batches stored or refused, broker deaths and returns (an empty broker; the
gateway replays its spool at once, as its BrokerWatch does), the first copy of each acknowledged message on the
newest broker comes in the order the gateway acknowledged them, per station and topic, and none is missing.

The model's producer fails every batch it holds when the broker dies and takes none while it is away. A real one
may carry a batch it held across the restart (aiokafka retries it to the new broker, ahead of the replay): that
order no writer can undo, and consumers order presence by the gateway's event time for it (auth, ADR 0045).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaConnectionError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from voltline_bus import BusConfig, PublishError
from voltline_gateway.adapters.batch_writer import BatchWriter
from voltline_gateway.adapters.spool import Spool

TOPICS = ("stream", "lifecycle")
PARTITIONS = [0, 1]
STATIONS = [f"CP-{n}".encode() for n in range(3)]
Tp = tuple[str, int]


@dataclass
class _Stored:
    offset: int


class _Builder:
    """Two records a batch: a station's messages spread over several batches of its partition."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes]] = []

    def append(self, *, key: bytes, value: bytes, timestamp: None, headers: Any) -> object | None:
        if len(self.records) == 2:
            return None
        self.records.append((key, value))
        return object()

    def record_count(self) -> int:
        return len(self.records)


@dataclass
class ModelProducer:
    """What the writer needs of aiokafka's producer, and its order: per partition one batch in flight and one
    queued (`send_batch` waits while one is queued); the broker stores or refuses the one in flight."""

    up: bool = True
    logs: dict[Tp, list[tuple[bytes, bytes]]] = field(default_factory=lambda: defaultdict(list))
    flight: dict[Tp, list[tuple[_Builder, asyncio.Future[_Stored]]]] = field(default_factory=lambda: defaultdict(list))
    room: asyncio.Condition = field(default_factory=asyncio.Condition)

    def create_batch(self) -> _Builder:
        return _Builder()

    async def send_batch(self, builder: _Builder, topic: str, *, partition: int) -> asyncio.Future[_Stored]:
        async with self.room:
            await self.room.wait_for(lambda: len(self.flight[(topic, partition)]) < 2)
        future: asyncio.Future[_Stored] = asyncio.get_running_loop().create_future()
        if not self.up:
            future.set_exception(KafkaConnectionError("the broker is away"))
        else:
            self.flight[(topic, partition)].append((builder, future))
        return future

    async def answer(self, tp: Tp, stored: bool) -> None:
        """The broker's answer to the batch of `tp` in flight (refused while up: tansu under concurrent writes)."""
        if not self.flight[tp]:
            return
        builder, future = self.flight[tp].pop(0)
        if stored and self.up:
            future.set_result(_Stored(len(self.logs[tp])))
            self.logs[tp].extend(builder.records)
        else:
            future.set_exception(KafkaConnectionError("not stored"))
        async with self.room:
            self.room.notify_all()

    async def die(self) -> None:
        self.up = False
        for batches in self.flight.values():
            for _builder, future in batches:
                future.set_exception(KafkaConnectionError("the broker died"))
            batches.clear()
        async with self.room:
            self.room.notify_all()

    def come_back_empty(self) -> None:
        self.up, self.logs = True, defaultdict(list)


_publish = st.tuples(st.just("publish"), st.sampled_from(STATIONS), st.sampled_from(TOPICS))
_stored = st.tuples(st.just("answer"), st.sampled_from(TOPICS), st.sampled_from(PARTITIONS), st.just(True))
_answer = st.tuples(st.just("answer"), st.sampled_from(TOPICS), st.sampled_from(PARTITIONS), st.booleans())
operations = st.lists(
    st.one_of(_publish, _publish, _stored, _answer, _answer, *[st.just((op,)) for op in ("all", "die", "come back")]),
    max_size=80,
)


async def run(
    ops: list[tuple[Any, ...]], spool_dir: Path
) -> tuple[dict[tuple[str, bytes], list[bytes]], ModelProducer]:
    """Plays the operations, then lets everything settle; returns the acknowledged order per (topic, station)."""
    spool = Spool(spool_dir)
    spool.open()
    writer = BatchWriter(
        BusConfig(bootstrap="model", client_id="model"),
        spool=spool,
        spooled_topics=frozenset(TOPICS),
        replay_backoff_s=0,
    )
    broker = ModelProducer()
    writer._producer = broker  # type: ignore[assignment]  # the model in aiokafka's place
    writer._partitions = {topic: PARTITIONS for topic in TOPICS}
    acked: dict[tuple[str, bytes], list[bytes]] = defaultdict(list)
    replay: asyncio.Task[int] | None = None
    numbers = iter(range(1_000_000))

    def published(topic: str, station: bytes, value: bytes, future: asyncio.Future[None]) -> None:
        if not future.cancelled() and future.exception() is None:
            acked[(topic, station)].append(value)

    async def replay_now() -> None:  # the broker watch: a restart during a reset cancels it and starts over
        nonlocal replay
        if replay is not None and not replay.done():
            replay.cancel()
        await asyncio.gather(replay, return_exceptions=True) if replay else None
        replay = asyncio.create_task(writer.replay())

    async def settle() -> None:
        for _ in range(5):
            await asyncio.sleep(0)

    for op in ops:
        if op[0] == "publish":
            _, station, topic = op
            value = f"{next(numbers)}".encode()
            future = writer.enqueue(topic, station, value, [])
            future.add_done_callback(lambda f, t=topic, s=station, v=value: published(t, s, v, f))
        elif op[0] == "answer":
            await broker.answer((op[1], op[2]), op[3])
        elif op[0] == "all":  # the broker stores everything in flight, and what comes next, for a while
            for _ in range(4):
                for tp in [tp for tp, batches in broker.flight.items() if batches]:
                    await broker.answer(tp, True)
                await settle()
        elif op[0] == "die":
            await broker.die()
        elif broker.up is False:
            broker.come_back_empty()
            await replay_now()
        await settle()
    if not broker.up:
        broker.come_back_empty()
        await replay_now()
    for _ in range(10_000):  # everything stored, the last replay done (a failed one is run again, as the watch does)
        await settle()
        busy = [tp for tp, batches in broker.flight.items() if batches]
        for tp in busy:
            await broker.answer(tp, True)
        if replay is not None and replay.done():
            if isinstance(replay.exception(), PublishError):
                await replay_now()
                continue
        if not busy and (replay is None or replay.done()) and not writer._flushers:
            break
    assert replay is None or replay.exception() is None
    spool.close()
    return acked, broker


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
@example(  # a live message of a station being replayed, its batch stored while the replayed one is refused
    [("publish", STATIONS[0], "lifecycle"), ("all",), ("die",), ("come back",), ("publish", STATIONS[0], "lifecycle")]
    + [("answer", "lifecycle", p, False) for p in PARTITIONS]
)
def test_each_station_keeps_its_acknowledged_order_on_the_newest_broker(ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        acked, broker = asyncio.run(run(ops, Path(directory)))
    for (topic, station), order in acked.items():
        firsts: list[bytes] = []
        for partition in PARTITIONS:
            for key, value in broker.logs[(topic, partition)]:
                if key == station and value not in firsts:
                    firsts.append(value)
        assert [v for v in firsts if v in order] == order, (topic, station)


def test_a_refused_batch_is_sent_again_before_the_replayed_batches_behind_it() -> None:
    """The replay's first batch of a station is refused, the next would be stored: it must not go first."""
    station = STATIONS[0]
    ops: list[tuple[Any, ...]] = [("publish", station, "lifecycle")] * 4  # connect, boot, ..., disconnect
    ops += [("answer", "lifecycle", p, True) for p in PARTITIONS for _ in range(4)]
    ops += [("die",), ("come back",)]
    ops += [("answer", "lifecycle", p, False) for p in PARTITIONS]
    with tempfile.TemporaryDirectory() as directory:
        acked, broker = asyncio.run(run(ops, Path(directory)))
    order = acked[("lifecycle", station)]
    assert len(order) == 4
    stored = [v for p in PARTITIONS for k, v in broker.logs[("lifecycle", p)] if k == station]
    assert list(dict.fromkeys(stored)) == order

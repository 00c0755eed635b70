"""`merge_partitions`: a fetch's partitions in one batch per lane (one or two lanes), each partition still in order,
each one's offset committed, a failing event isolated as in per-partition batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from aiokafka.partitioner import DefaultPartitioner
from voltline_bus import EventConsumer, Outgoing
from voltline_events import Envelope, station_key


@pytest.mark.parametrize("lanes", [1, 2])
async def test_a_fetch_of_several_partitions_is_one_batch_per_lane_in_order_and_every_partition_is_committed(
    kit: Any, lanes: int, transactional: Callable[[], Any]
) -> None:
    [topic] = await kit.topics("merged", partitions=3)
    stations = [f"CS-{i}" for i in range(9)]
    per_station = 12
    await kit.producer.publish_many(
        [
            Outgoing(topic, kit.heartbeat(s, message_id=str(n)), station_key(s))
            for n in range(per_station)
            for s in stations
        ]
    )
    scope = transactional()
    failed: set[str] = set()

    async def handle(envelope: Envelope) -> None:
        # One event of one station fails once, inside a batch that holds other partitions' events: the batch is
        # handled again around it (rolled back, then its prefix, it alone, the rest).
        if envelope.station_id == "CS-4" and envelope.message_id == "5" and "once" not in failed:
            failed.add("once")
            raise RuntimeError("transient")
        scope.handled(envelope)

    consumer = await kit.consumer(
        [topic], handle, batch_scope=scope, merge_partitions=lanes, max_poll_records=500, backoff_initial=0.01
    )
    total = len(stations) * per_station
    await kit.eventually(lambda: sum(map(len, scope.committed.values())) == total, what="every event once")
    for station in stations:
        assert scope.committed[station] == list(range(per_station)), station
    assert failed == {"once"}
    partitions_of = {s: DefaultPartitioner()(station_key(s), [0, 1, 2], [0, 1, 2]) for s in stations}
    assert len(set(partitions_of.values())) > 1
    assert any(len({partitions_of[s] for s in stations_of}) > 1 for stations_of in scope.batches)
    assert max(len(b) for b in scope.batches) > len(stations) // 3, "the fetch's partitions were not merged"
    await consumer.stop()

    # Every partition's offset was committed: the group's next member gets nothing again.
    again: list[Envelope] = []

    async def count(envelope: Envelope) -> None:
        again.append(envelope)

    await kit.producer.publish_many([Outgoing(topic, kit.heartbeat("CS-0", message_id="99"), station_key("CS-0"))])
    await kit.consumer([topic], count, batch_scope=transactional(), merge_partitions=2)
    await kit.eventually(lambda: len(again) >= 1, what="the new event")
    assert [e.message_id for e in again] == ["99"]


@pytest.mark.parametrize("pipelined", [False, True])
async def test_a_lane_ending_early_reads_its_other_partitions_records_again(
    kit: Any, monkeypatch: pytest.MonkeyPatch, pipelined: bool, transactional: Callable[[], Any]
) -> None:
    """A record handled alone whose processing raises (a bug: handler errors are caught inside) is read again
    from its partition; the lane's records of its other partitions, drained by the same poll and not handled,
    must be read again too, not skipped (aiokafka's position is past them)."""
    [topic] = await kit.topics("merged-early-end", partitions=2)
    first, second = _stations_on(2)
    # The longer partition comes first in the lane: its solo record ends the lane before the other's records.
    await kit.producer.publish_many(
        [Outgoing(topic, kit.heartbeat(first, message_id=str(n)), station_key(first)) for n in range(5)]
        + [Outgoing(topic, kit.heartbeat(second, message_id=str(n)), station_key(second)) for n in range(3)]
    )
    scope = transactional()
    raised: list[int] = []
    process = EventConsumer._process

    async def once_broken(self: EventConsumer, record: ConsumerRecord, batch: Any) -> Any:
        if not raised and Envelope.from_bytes(record.value).message_id == "2" and record.key == station_key(first):
            raised.append(record.offset)
            raise RuntimeError("a bug in the one-at-a-time path")
        return await process(self, record, batch)

    monkeypatch.setattr(EventConsumer, "_process", once_broken)

    async def handle(envelope: Envelope) -> None:
        scope.handled(envelope)

    await kit.consumer(
        [topic],
        handle,
        batch_scope=scope,
        merge_partitions=1,
        solo=lambda e: e.station_id == first and e.message_id == "2",
        pipeline_partitions=pipelined,
        backoff_max=0.05,
    )
    await kit.eventually(lambda: len(scope.committed[first]) == 5, what="the first partition, read again")
    await kit.eventually(lambda: len(scope.committed[second]) == 3, within=10, what="the lane's other partition")
    assert raised
    assert scope.committed[first] == list(range(5))
    assert scope.committed[second] == list(range(3))


def _stations_on(partitions: int) -> list[str]:
    """One station id whose key lands on each partition."""
    found: dict[int, str] = {}
    n = 0
    every = list(range(partitions))
    while len(found) < partitions:
        station = f"CS-{n}"
        found.setdefault(DefaultPartitioner()(station_key(station), every, every), station)
        n += 1
    return [found[p] for p in every]

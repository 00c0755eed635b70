"""`pipeline_partitions=True` (ADR 0031): a partition whose batch is done takes its next records without waiting for
the other partitions of its fetch, and the consumer's contract holds: each partition in order, a poison message
isolated, a rebalance or a stop during a slow batch loses nothing and handles nothing twice.

Each test holds one partition's batch open (its handler waits for `release`) and shows another partition moving on
through fetches that came after it: without pipelining they wait for the slow batch, and the test times out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiokafka.partitioner import DefaultPartitioner
from voltline_bus import Outgoing
from voltline_bus import headers as h
from voltline_events import Envelope, Topics, station_key


def stations_on(partitions: int, per_partition: int = 1) -> list[list[str]]:
    """Station ids whose key lands on each partition of a topic with `partitions` partitions."""
    found: list[list[str]] = [[] for _ in range(partitions)]
    n = 0
    all_partitions = list(range(partitions))
    while any(len(f) < per_partition for f in found):
        station = f"CS-{n}"
        where = found[DefaultPartitioner()(station_key(station), all_partitions, all_partitions)]
        if len(where) < per_partition:
            where.append(station)
        n += 1
    return found


def events(kit: Any, topic: str, station: str, numbers: range) -> list[Outgoing]:
    return [Outgoing(topic, kit.heartbeat(station, message_id=str(n)), station_key(station)) for n in numbers]


async def test_a_partition_moves_on_in_order_while_another_partitions_batch_is_slow(
    kit: Any, transactional: Callable[[], Any]
) -> None:
    [topic] = await kit.topics("piped-order", partitions=2)
    [[slow], [fast]] = stations_on(2)
    await kit.producer.publish_many(events(kit, topic, slow, range(3)) + events(kit, topic, fast, range(5)))
    scope, release = transactional(), asyncio.Event()

    async def handle(envelope: Envelope) -> None:
        if envelope.station_id == slow and envelope.message_id == "0":
            await release.wait()
        scope.handled(envelope)

    consumer = await kit.consumer([topic], handle, batch_scope=scope, pipeline_partitions=True)
    await kit.eventually(lambda: scope.count(fast) == 5, what="the fast partition's first fetch")
    # Two more rounds, each a fetch of its own, handled while the slow partition's batch is still open.
    for numbers in (range(5, 10), range(10, 15)):
        await kit.producer.publish_many(events(kit, topic, fast, numbers))
        await kit.eventually(lambda n=numbers: scope.count(fast) == n.stop, within=20, what="the next fetch")
    assert scope.committed[fast] == list(range(15))
    assert scope.count(slow) == 0
    release.set()
    await kit.eventually(lambda: scope.count(slow) == 3, what="the slow batch")
    assert scope.committed[slow] == [0, 1, 2]
    await consumer.stop()
    assert await kit.committed("g", topic, 0) == 3  # the slow station's partition


async def test_a_poison_message_is_retried_alone_and_dead_lettered_while_other_partitions_move_on(
    kit: Any, transactional: Callable[[], Any]
) -> None:
    [topic] = await kit.topics("piped-poison", partitions=2)
    [[bad], [good]] = stations_on(2)
    await kit.producer.publish_many(events(kit, topic, bad, range(3)) + events(kit, topic, good, range(4)))
    scope, release = transactional(), asyncio.Event()
    attempts: list[str] = []

    async def handle(envelope: Envelope) -> None:
        if envelope.station_id == bad and envelope.message_id == "1":
            attempts.append("batch" if scope.open.get() is not None else "alone")
            if attempts.count("alone") == 1:
                await release.wait()  # the first retry alone is slow: the other partition must not wait for it
            raise ValueError("poison")
        scope.handled(envelope)

    consumer = await kit.consumer(
        [topic], handle, batch_scope=scope, pipeline_partitions=True, max_attempts=3, backoff_initial=0.01
    )
    await kit.eventually(lambda: "alone" in attempts, what="the poison retried alone")
    assert scope.committed[bad] == [0]  # the batch before it, handled again without it
    await kit.eventually(lambda: scope.count(good) == 4, what="the other partition's first fetch")
    await kit.producer.publish_many(events(kit, topic, good, range(4, 8)))
    await kit.eventually(lambda: scope.count(good) == 8, within=20, what="its next fetch, during the retries")
    assert attempts == ["batch", "alone"]
    release.set()
    await kit.eventually(lambda: scope.count(bad) == 2, what="the rest after the dead letter")
    assert scope.committed[bad] == [0, 2]
    assert attempts == ["batch", "alone", "alone", "alone"]
    assert scope.committed[good] == list(range(8))
    [dead] = await kit.read(Topics.dead_letter(topic), 1)
    assert Envelope.from_bytes(dead.value).message_id == "1"
    assert h.as_dict(dead.headers)[h.DLQ_ATTEMPTS] == b"3"
    await consumer.stop()
    assert await kit.committed("g", topic, 0) == 3  # the poison's partition, past it


async def test_a_rebalance_during_a_slow_batch_hands_partitions_over_without_loss_or_duplicates(
    kit: Any, transactional: Callable[[], Any]
) -> None:
    [topic] = await kit.topics("piped-rebalance", partitions=4)
    stations = [s for on_partition in stations_on(4, per_partition=2) for s in on_partition]
    slow = stations[0]
    per_station = 10
    await kit.producer.publish_many(
        [o for n in range(per_station) for s in stations for o in events(kit, topic, s, range(n, n + 1))]
    )
    scopes = {"a": transactional(), "b": transactional()}
    release = asyncio.Event()

    def handler(member: str) -> Any:
        async def handle(envelope: Envelope) -> None:
            if member == "a" and envelope.station_id == slow and envelope.message_id == "3":
                await release.wait()
            await asyncio.sleep(0.005)
            scopes[member].handled(envelope)

        return handle

    def seen(station: str) -> list[int]:
        return sorted(scopes["a"].committed[station] + scopes["b"].committed[station])

    def everything_once(count: int) -> bool:
        return all(seen(s) == list(range(count)) for s in stations)

    a = await kit.consumer(
        [topic], handler("a"), group="g", batch_scope=scopes["a"], pipeline_partitions=True, max_poll_records=4
    )
    await kit.eventually(lambda: scopes["a"].count(stations[-1]) >= 1, what="the first member at work")
    epoch = a._epoch
    joining = asyncio.create_task(
        kit.consumer(
            [topic], handler("b"), group="g", batch_scope=scopes["b"], pipeline_partitions=True, max_poll_records=4
        )
    )
    # The revocation waits for the slow batch; nothing new starts meanwhile.
    await kit.eventually(lambda: a._epoch > epoch, within=30, what="the revocation to begin")
    assert a._batch is not None and a._batch.abandon.is_set()
    release.set()
    await asyncio.wait_for(joining, 60)
    await kit.eventually(lambda: everything_once(per_station), within=30, what="every event")
    # Barrier: a marker per station behind its events; a redelivery would come before the marker.
    await kit.producer.publish_many([o for s in stations for o in events(kit, topic, s, range(per_station, 11))])
    await kit.eventually(lambda: everything_once(per_station + 1), within=30, what="every marker")
    for station in stations:
        for member in ("a", "b"):
            got = scopes[member].committed[station]
            assert got == sorted(got), (station, member)  # each member handled its share in order
    assert any(scopes["b"].committed.values())  # the second member really took part


async def test_stop_during_a_slow_batch_waits_for_it_and_commits_what_was_handled(
    kit: Any, transactional: Callable[[], Any]
) -> None:
    [topic] = await kit.topics("piped-stop", partitions=2)
    [[slow], [fast]] = stations_on(2)
    await kit.producer.publish_many(events(kit, topic, slow, range(3)) + events(kit, topic, fast, range(4)))
    scope, release = transactional(), asyncio.Event()

    async def handle(envelope: Envelope) -> None:
        if envelope.station_id == slow and envelope.message_id == "1":
            await release.wait()
        scope.handled(envelope)

    consumer = await kit.consumer([topic], handle, batch_scope=scope, pipeline_partitions=True)
    await kit.eventually(lambda: scope.count(fast) == 4, what="the fast partition")
    await kit.producer.publish_many(events(kit, topic, fast, range(4, 6)))
    await kit.eventually(lambda: scope.count(fast) == 6, within=20, what="its next fetch")
    stopping = asyncio.create_task(consumer.stop())
    await kit.eventually(lambda: consumer._stopping, what="the stop to begin")
    assert not stopping.done()  # waits for the slow batch
    release.set()
    await asyncio.wait_for(stopping, 30)
    # The batch in flight finished (its rest, if another fetch brought it, stays for the next member).
    done = scope.count(slow)
    assert done >= 2 and scope.committed[slow] == list(range(done))
    assert await kit.committed("g", topic, 0) == done  # the slow station's partition
    assert await kit.committed("g", topic, 1) == 6

    # The group's next member gets only what came after.
    again = transactional()
    await kit.producer.publish_many(events(kit, topic, fast, range(6, 7)) + events(kit, topic, slow, range(3, 4)))

    async def handle_again(envelope: Envelope) -> None:
        again.handled(envelope)

    await kit.consumer([topic], handle_again, batch_scope=again, pipeline_partitions=True)
    await kit.eventually(lambda: again.count(fast) + again.count(slow) == 2 + 3 - done, what="the rest")
    assert again.committed == {fast: [6], slow: list(range(done, 4))}


async def test_a_pipelined_poll_gives_each_partition_its_own_max_poll_records(
    kit: Any, transactional: Callable[[], Any]
) -> None:
    """Two partitions of 40 records buffered by one fetch, `max_poll_records=60`: a limit for the whole poll gave
    the first partition 40 and the second 20, whose other 20 then went in a second batch."""
    [topic] = await kit.topics("sizes-poll", partitions=2)
    [[one], [two]] = stations_on(2)
    await kit.producer.publish_many(events(kit, topic, one, range(40)) + events(kit, topic, two, range(40)))
    scope = transactional()

    async def handle(envelope: Envelope) -> None:
        scope.handled(envelope)

    consumer = await kit.consumer([topic], handle, batch_scope=scope, pipeline_partitions=True, max_poll_records=60)
    await kit.eventually(lambda: scope.count(one) == 40 and scope.count(two) == 40, what="both partitions")
    assert scope.committed[one] == list(range(40)) and scope.committed[two] == list(range(40))
    assert (sum(one in b for b in scope.batches), sum(two in b for b in scope.batches)) == (1, 1)
    await consumer.stop()

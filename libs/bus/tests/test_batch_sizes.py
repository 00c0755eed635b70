"""How a backlog is cut into batch transactions: the first batch is a full one and a small remainder is not a batch of
its own (bench/RESULTS.md, session 10: each batch pays fixed round trips). The pipelined poll's share per partition
is tested with the pipelining (test_pipelined_partitions.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from voltline_bus import Outgoing
from voltline_events import Envelope, station_key


def batches_of(scope: Any, station: str) -> int:
    return sum(1 for stations in scope.batches if station in stations)


async def backlog(kit: Any, topic: str, count: int) -> None:
    await kit.producer.publish_many(
        [Outgoing(topic, kit.heartbeat("CS-1", message_id=str(n)), station_key("CS-1")) for n in range(count)]
    )


@pytest.mark.parametrize("pipelined", [False, True])
async def test_a_backlog_a_little_over_the_first_offer_is_one_batch(
    kit: Any, transactional: Callable[[], Any], pipelined: bool
) -> None:
    """700 records: 512 (the first offer) and a remainder under half of it. Before, 64 + 128 + 256 + 252."""
    [topic] = await kit.topics("sizes-first", partitions=1)
    await backlog(kit, topic, 700)
    scope = transactional()

    async def handle(envelope: Envelope) -> None:
        scope.handled(envelope)

    consumer = await kit.consumer(
        [topic], handle, batch_scope=scope, pipeline_partitions=pipelined, max_poll_records=1000
    )
    await kit.eventually(lambda: scope.count("CS-1") == 700, what="the backlog")
    assert scope.committed["CS-1"] == list(range(700))
    assert batches_of(scope, "CS-1") == 1
    await consumer.stop()


async def test_a_remainder_of_half_an_offer_or_more_is_a_batch_of_its_own(
    kit: Any, transactional: Callable[[], Any]
) -> None:
    """The offer still bounds a batch: 800 records go as 512 and 288."""
    [topic] = await kit.topics("sizes-split", partitions=1)
    await backlog(kit, topic, 800)
    scope = transactional()

    async def handle(envelope: Envelope) -> None:
        scope.handled(envelope)

    consumer = await kit.consumer([topic], handle, batch_scope=scope, max_poll_records=1000)
    await kit.eventually(lambda: scope.count("CS-1") == 800, what="the backlog")
    assert scope.committed["CS-1"] == list(range(800))
    assert batches_of(scope, "CS-1") == 2
    await consumer.stop()

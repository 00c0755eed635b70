"""How a backlog is cut into batch transactions: the first batch is a full one and a small remainder is not a batch of
its own (bench/RESULTS.md, session 10: each batch pays fixed round trips). The pipelined poll's share per partition
is tested with the pipelining (test_pipelined_partitions.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
from voltline_bus import Outgoing
from voltline_events import Envelope, station_key


@pytest.mark.parametrize(
    ("records", "pipelined", "batches"),
    [
        # 512 (the first offer) and a remainder under half of it: one batch (before: 64 + 128 + 256 + 252).
        (700, False, 1),
        (700, True, 1),
        # The offer still bounds a batch: 512 and 288.
        (800, False, 2),
    ],
)
async def test_a_backlog_is_cut_into_full_batches_from_the_first(
    kit: Any, transactional: Callable[[], Any], records: int, pipelined: bool, batches: int
) -> None:
    [topic] = await kit.topics("sizes", partitions=1)
    await _backlog(kit, topic, records)
    scope = transactional()

    async def handle(envelope: Envelope) -> None:
        scope.handled(envelope)

    consumer = await kit.consumer(
        [topic], handle, batch_scope=scope, pipeline_partitions=pipelined, max_poll_records=1000
    )
    await kit.eventually(lambda: scope.count("CS-1") == records, what="the backlog")
    assert scope.committed["CS-1"] == list(range(records))
    assert len(scope.batches) == batches
    await consumer.stop()


async def test_after_a_commit_that_failed_the_rest_of_the_run_is_handled_alone(
    kit: Any, transactional: Callable[[], Any]
) -> None:
    """No culprit is known when a batch's commit fails: the rest of the run goes one at a time, not in batches."""
    records = 1600
    [topic] = await kit.topics("commit-fails", partitions=1)
    await _backlog(kit, topic, records)
    inner = transactional()
    tries: list[int] = []

    @asynccontextmanager
    async def failing_once(envelopes: Sequence[Envelope]) -> AsyncIterator[None]:
        tries.append(len(envelopes))
        async with inner(envelopes):
            yield
            if len(tries) == 1:
                raise ConnectionError("the commit's connection dropped")

    async def handle(envelope: Envelope) -> None:
        inner.handled(envelope)

    consumer = await kit.consumer([topic], handle, batch_scope=failing_once, max_poll_records=records)
    await kit.eventually(lambda: inner.count("CS-1") >= records, what="the backlog")
    assert inner.committed["CS-1"] == list(range(records))
    assert len(tries) == 1  # the failed batch only: no batch after it
    await consumer.stop()


async def _backlog(kit: Any, topic: str, records: int) -> None:
    """`records` heartbeats of one station, numbered from 0 in their message ids."""
    await kit.producer.publish_many(
        [Outgoing(topic, kit.heartbeat("CS-1", message_id=str(n)), station_key("CS-1")) for n in range(records)]
    )

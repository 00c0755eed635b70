"""Consumers of one process join their groups and settle (issue 20: a rebalance without end on a fresh broker).

aiokafka's sticky assignor kept one "previous assignment" per process: several consumers in one process
(auth runs two, of two groups) sent each other's partitions as their own, and two replicas of a group
rebalanced every heartbeat for ever without becoming ready.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from aiokafka import TopicPartition
from voltline_bus import EventConsumer, Outgoing
from voltline_events import Envelope, station_key

FAST_GROUP = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 300}  # as conftest's


def _member(kit: Any, group: str, topic: str, handle: Any) -> EventConsumer:
    return EventConsumer(
        kit.config,
        group_id=kit.topic(group),
        topics=[topic],
        handler=handle,
        dead_letter=kit.producer,
        consumer_options=FAST_GROUP,
    )


def _generation(consumer: EventConsumer) -> int:
    return consumer._consumer._coordinator.generation  # type: ignore[union-attr]


def _assignment(consumer: EventConsumer) -> frozenset[TopicPartition]:
    assert consumer._consumer is not None
    return frozenset(consumer._consumer.assignment())


async def test_three_members_of_a_group_in_one_process_settle_and_share_the_partitions(kit: Any) -> None:
    requests, events = await kit.topics("requests", "events", partitions=6)
    handled: dict[int, list[str]] = defaultdict(list)

    def handler(member: int) -> Any:
        async def handle(envelope: Envelope) -> None:
            handled[member].append(envelope.station_id or "")

        return handle

    # Another group's consumer in the same process first (auth's events consumer beside its requests one).
    other = _member(kit, "other", events, handler(-1))
    members = [_member(kit, "g", requests, handler(n)) for n in range(3)]
    try:
        await asyncio.wait_for(other.start(), timeout=60)
        await asyncio.wait_for(asyncio.gather(*(m.start() for m in members)), timeout=60)

        def settled() -> bool:
            # Each member's sticky-assignor memory is set by the assignment callback a moment after the
            # coordinator reports the generation and assignment: wait for it too, not assert it at once.
            generations = {_generation(m) for m in members}
            parts = [_assignment(m) for m in members]
            return (
                len(generations) == 1
                and all(len(p) == 2 for p in parts)
                and frozenset().union(*parts) == {TopicPartition(requests, n) for n in range(6)}
                # each remembers its own assignment, at the generation it was made in
                and all(m._sticky.generation in generations for m in members)
                and all(sorted(m._sticky.member_assignment or []) == sorted(_assignment(m)) for m in members)
                and sorted(other._sticky.member_assignment or []) == sorted(_assignment(other))
            )

        await kit.eventually(settled, within=30, what="one generation, two partitions each, remembered by each")
        generation = _generation(members[0])
        for member in members:
            assert sorted(member._sticky.member_assignment or []) == sorted(_assignment(member))
            assert member._sticky.generation == generation
        assert sorted(other._sticky.member_assignment or []) == sorted(_assignment(other))

        stations = [f"CS-{n}" for n in range(24)]
        await kit.producer.publish_many(Outgoing(requests, kit.heartbeat(s), station_key(s)) for s in stations)
        await kit.eventually(lambda: sum(map(len, handled.values())) >= len(stations), what="every message")
        assert sorted(s for n in range(3) for s in handled[n]) == sorted(stations)  # once each
        assert {_generation(m) for m in members} == {generation}  # no rebalance happened meanwhile
    finally:
        await asyncio.gather(*(m.stop(grace=5) for m in [*members, other]))

"""`commit_caught_up=True`: a consumer that has handled everything it was sent commits at once, not up to
`commit_interval` later, so a reader of the group's committed offsets (bench.pipeline ingest) sees the drain's end."""

from __future__ import annotations

from typing import Any

import pytest
from voltline_bus import Outgoing
from voltline_events import Envelope, station_key


@pytest.mark.parametrize("pipelined", [False, True], ids=["fetch-barrier", "pipelined"])
async def test_a_caught_up_consumer_commits_without_waiting_for_its_commit_interval(kit: Any, pipelined: bool) -> None:
    [topic] = await kit.topics("caught-up", partitions=2)
    stations = [f"CS-{n}" for n in range(4)]
    await kit.producer.publish_many(
        [Outgoing(topic, kit.heartbeat(s, message_id=str(n)), station_key(s)) for s in stations for n in range(3)]
    )
    handled: list[Envelope] = []

    async def handle(envelope: Envelope) -> None:
        handled.append(envelope)

    # A commit interval far longer than the wait below: only the catch-up commit can make the offsets visible.
    await kit.consumer([topic], handle, commit_interval=600.0, commit_caught_up=True, pipeline_partitions=pipelined)

    async def committed() -> int:
        return sum([await kit.committed("g", topic, p) or 0 for p in (0, 1)])

    await kit.eventually(lambda: committed(), within=20, ok=lambda n: n == 12, what="every record committed")
    assert len(handled) == 12

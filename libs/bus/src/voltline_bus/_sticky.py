"""A sticky assignor whose memory belongs to one consumer, not to the whole process.

aiokafka's `StickyPartitionAssignor` keeps the member's last assignment and generation in *class* attributes
(aio-libs/aiokafka#1175), and never sets the generation (#1176). Every consumer of a process that uses it
shares one "previous assignment": a service with two consumers (auth: requests and events) or a process
with two members of one group sends the other consumer's partitions as its own in its JoinGroup metadata.
Members then claim the same partitions at generation -1, and each JoinGroup carries metadata that differs
from the member's last one, which makes the broker start yet another rebalance: on a fresh broker two
replicas rebalanced without end (generation 800+) and never became ready.

`sticky_assignor()` returns a fresh subclass per consumer, so each keeps its own memory; `remember_generation`
records the generation of each completed join (from the rebalance listener), as the Java client does.
"""

from __future__ import annotations

from aiokafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor


def sticky_assignor() -> type[StickyPartitionAssignor]:
    """A StickyPartitionAssignor (protocol name "sticky") with state of its own: one per consumer."""
    return type(
        "StickyPartitionAssignor",
        (StickyPartitionAssignor,),
        {
            "member_assignment": None,
            "generation": StickyPartitionAssignor.DEFAULT_GENERATION_ID,
            "_latest_partition_movements": None,
        },
    )


def remember_generation(assignor: type[StickyPartitionAssignor], generation: int | None) -> None:
    """Record the generation of the join just completed (aiokafka never calls on_generation_assignment)."""
    if generation is not None and generation >= 0:
        assignor.on_generation_assignment(generation)

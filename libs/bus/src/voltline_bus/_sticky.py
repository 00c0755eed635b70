"""A sticky assignor whose memory belongs to one consumer, not to the whole process.

aiokafka's `StickyPartitionAssignor` keeps the member's last assignment and generation in *class* attributes
(aio-libs/aiokafka#1175), and never sets the generation (#1176). Every consumer of a process that uses it
shares one "previous assignment": a service with two consumers (auth: requests and events) or a process
with two members of one group sends another consumer's partitions as its own in its JoinGroup metadata, so
members claim the same partitions at generation -1 and each join carries metadata that differs from the
member's last one. Together with aiokafka sending one JoinGroup per listed assignor (aio-libs/aiokafka#1168,
why EventConsumer lists only this one), that kept replicas of a group rebalancing without end on a fresh
broker (issue 20).

`sticky_assignor()` returns a fresh subclass per consumer, so each keeps its own memory; `remember_generation`
records the generation of each completed join (from the rebalance listener), as the Java client does.
"""

from __future__ import annotations

from aiokafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor


def sticky_assignor() -> type[StickyPartitionAssignor]:
    """A StickyPartitionAssignor (protocol name "sticky") with state of its own: one per consumer."""

    class OwnStickyPartitionAssignor(StickyPartitionAssignor):  # type: ignore[misc]
        member_assignment = None
        generation = StickyPartitionAssignor.DEFAULT_GENERATION_ID
        _latest_partition_movements = None

    return OwnStickyPartitionAssignor


def remember_generation(assignor: type[StickyPartitionAssignor], generation: int | None) -> None:
    """Record the generation of the join just completed (aiokafka never calls on_generation_assignment)."""
    if generation is not None and generation >= 0:
        assignor.on_generation_assignment(generation)

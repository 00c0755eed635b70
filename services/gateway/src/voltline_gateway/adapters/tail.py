"""The gateway's tables (registry, presence) and live feed (commands): voltline_bus.TopicFollower, fed by key/value.

No group means no join delay, no rebalances and no committed offsets: a compacted table is read from the
beginning at every start (`caught_up` is set once the end offsets seen at start are reached), a live feed
from the end (commands sent while this instance was down are not its business: it holds no socket then).
"""

from __future__ import annotations

from collections.abc import Callable

from voltline_bus import BusConfig, FollowedRecord, Producer, TopicFollower

RecordHandler = Callable[[bytes | None, bytes | None], None]


class TopicTail(TopicFollower):
    """A TopicFollower whose handler takes a record's key and value (up to 2,000 records a fetch).

    `fetch_max_wait_ms`: for a tail someone waits on (station commands), the short request wait: tansu sleeps
    through part of a fetch's max wait even when records are there, and aiokafka's default is 500 ms."""

    def __init__(
        self,
        config: BusConfig,
        producer: Producer,
        topic: str,
        handle: RecordHandler,
        *,
        from_beginning: bool,
        fetch_max_wait_ms: int | None = None,
    ) -> None:
        def apply(record: FollowedRecord) -> None:
            handle(record.key, record.value)

        super().__init__(
            config,
            topic,
            apply,
            from_beginning=from_beginning,
            partitions_for=producer.partitions_for,
            name="tail",
            max_records=2000,
            fetch_max_wait_ms=fetch_max_wait_ms,
        )

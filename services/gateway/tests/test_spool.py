"""The gateway's spool of acknowledged station events (adapters.spool): what it keeps and sends again."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from voltline_bus import BusConfig, TopicSpec, ensure_topics
from voltline_events import Topics
from voltline_gateway.adapters.consumed import ConsumedPoller
from voltline_gateway.adapters.spool import Floors, Spool

TOPIC = "voltline.station.events.v1"


def messages(*values: bytes) -> list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]]:
    return [(TOPIC, b"CP-1", value, [("event_type", b"station.heartbeat")]) for value in values]


def test_records_come_back_in_order_with_their_partition_and_offset(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    spool.append(messages(b"a", b"b"), partition=2, base_offset=10)
    spool.append(messages(b"c"), partition=0, base_offset=4)
    old = spool.rotate()
    got = [(r[2], r[4], r[5]) for r in spool.records(old)]
    assert got == [(b"a", 2, 10), (b"b", 2, 11), (b"c", 0, 4)]
    spool.drop(old)
    assert list(spool.records(old)) == []
    spool.close()


def test_a_torn_record_at_the_end_of_a_segment_is_ignored(tmp_path: Path) -> None:
    """A gateway killed in the middle of a write leaves half a record: the whole ones before it count."""
    spool = Spool(tmp_path)
    spool.open()
    spool.append(messages(b"whole"), partition=0, base_offset=0)
    spool.close()
    [segment] = tmp_path.glob("segment-*.log")
    with segment.open("ab") as file:
        file.write(b"\x00\x00\x01\x00partial")
    reopened = Spool(tmp_path)
    reopened.open()
    assert [r[2] for r in reopened.records([segment])] == [b"whole"]
    reopened.close()


def test_what_every_consumer_group_committed_is_neither_sent_again_nor_kept(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    spool.set_epoch("cluster-1")
    spool.append(messages(b"read", b"unread"), partition=1, base_offset=0)
    first = spool.rotate()
    spool.append(messages(b"later"), partition=1, base_offset=2)
    # Everyone committed offset 1 (read the first record) at this poll, of this broker.
    spool.floors = Floors("cluster-1", time.time() + 1, {(TOPIC, 1): 1})
    assert [r[2] for r in spool.records(first)] == [b"unread"]
    assert spool.trim() == 0  # the first segment still holds an unread record
    spool.floors = Floors("cluster-1", time.time() + 1, {(TOPIC, 1): 2})
    assert spool.trim() == 1
    assert [p.name for p in tmp_path.glob("segment-*.log")] != [first[0].name]
    spool.close()


def test_progress_polled_from_another_broker_is_not_trusted(tmp_path: Path) -> None:
    """Offsets committed on a restarted broker say nothing about the records the old one had."""
    spool = Spool(tmp_path)
    spool.open()
    spool.set_epoch("cluster-1")
    spool.append(messages(b"x"), partition=0, base_offset=0)
    old = spool.rotate()
    spool.floors = Floors("cluster-2", time.time() + 1, {(TOPIC, 0): 100})
    assert [r[2] for r in spool.records(old)] == [b"x"]
    assert spool.trim() == 0
    spool.close()


def test_records_written_after_the_poll_are_sent_again_even_below_the_floor(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    spool.set_epoch("cluster-1")
    spool.floors = Floors("cluster-1", time.time() - 5, {(TOPIC, 0): 100})
    spool.append(messages(b"new"), partition=0, base_offset=3)
    assert [r[2] for r in spool.records(spool.rotate())] == [b"new"]
    spool.close()


async def test_each_spooled_topic_is_floored_by_the_groups_that_read_it(kafka: Any) -> None:
    """Auth reads the lifecycle topic, the other services the station stream (ADR 0037): a group counts only where it
    reads, so neither topic's spool is held back by groups that never read it."""
    prefix = f"floor-{uuid.uuid4().hex[:6]}."
    topics = Topics(prefix)
    config = BusConfig(bootstrap=kafka.bootstrap_servers, client_id="floors", idempotence=False)
    await ensure_topics(config, [TopicSpec.of(topics.station_events), TopicSpec.of(topics.station_lifecycle)])
    for group, topic, offset in (
        (f"{prefix}stream", topics.station_events, 7),
        (f"{prefix}life", topics.station_lifecycle, 3),
    ):
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, 0)])
            await consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(offset, "")})
        finally:
            await consumer.stop()
    floors = await ConsumedPoller(
        config, Spool(Path("/nonexistent")), [topics.station_events, topics.station_lifecycle]
    ).poll()
    assert floors is not None
    assert floors.offsets[(topics.station_events, 0)] == 7
    assert floors.offsets[(topics.station_lifecycle, 0)] == 3
    assert floors.offsets[(topics.station_lifecycle, 1)] == 0  # read by its group from nothing yet

"""The gateway's spool of acknowledged station events (adapters.spool): what it keeps and sends again."""

from __future__ import annotations

import time
from pathlib import Path

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

"""TopicFollower, the one reader of tables and reply topics, against a real broker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from voltline_bus import FollowedRecord, TopicFollower
from voltline_bus._retry import Backoff


async def test_from_the_beginning_reads_every_partition_and_says_when_it_caught_up(kit: Any) -> None:
    [topic] = await kit.topics("table", partitions=3)
    for i in range(30):
        await kit.producer.publish_raw(topic, f"v{i}".encode(), key=f"k{i}".encode())
    await kit.producer.publish_raw(topic, None, key=b"k0")  # a tombstone reaches the handler as value None
    seen: list[tuple[bytes | None, bytes | None]] = []

    def record(r: FollowedRecord) -> None:
        seen.append((r.key, r.value))

    follower = TopicFollower(kit.config, topic, record, from_beginning=True)
    await follower.start()
    try:
        async with asyncio.timeout(15):
            await follower.caught_up.wait()
        assert len(seen) == 31  # everything that was there at start, before caught_up
        assert (b"k0", None) in seen and (b"k29", b"v29") in seen
        assert follower.running
        await kit.producer.publish_raw(topic, b"later", key=b"k-later")
        await kit.eventually(lambda: (b"k-later", b"later") in seen, what="a record published after catching up")
    finally:
        await follower.stop()
    assert not follower.running


async def test_from_the_end_skips_the_past_and_sees_what_follows_start(kit: Any) -> None:
    [topic] = await kit.topics("feed", partitions=2)
    await kit.producer.publish_raw(topic, b"old", key=b"a")
    seen: list[bytes | None] = []
    follower = TopicFollower(
        kit.config,
        topic,
        lambda r: seen.append(r.value),
        from_beginning=False,
        partitions_for=kit.producer.partitions_for,
    )
    await follower.start()
    try:
        assert follower.caught_up.is_set()  # a live feed has nothing to catch up on
        await kit.producer.publish_raw(topic, b"new", key=b"a")
        await kit.eventually(lambda: b"new" in seen, what="the record published after start")
        assert b"old" not in seen
    finally:
        await follower.stop()


async def test_a_failing_handler_skips_the_record_and_the_follower_goes_on(kit: Any) -> None:
    [topic] = await kit.topics("bad")
    seen: list[bytes | None] = []

    def handle(r: FollowedRecord) -> None:
        if r.value == b"boom":
            raise ValueError("bad record")
        seen.append(r.value)

    await kit.producer.publish_raw(topic, b"boom")
    await kit.producer.publish_raw(topic, b"fine")
    follower = TopicFollower(kit.config, topic, handle, from_beginning=True)
    await follower.start()
    try:
        async with asyncio.timeout(15):
            await follower.caught_up.wait()
        assert seen == [b"fine"] and follower.running
    finally:
        await follower.stop()


async def test_restart_reads_a_table_again_and_an_empty_topic_is_caught_up_at_once(kit: Any) -> None:
    [topic] = await kit.topics("empty")
    seen: list[bytes | None] = []
    follower = TopicFollower(kit.config, topic, lambda r: seen.append(r.value), from_beginning=True)
    await follower.start()
    try:
        assert follower.caught_up.is_set()
        await kit.producer.publish_raw(topic, b"one")
        await kit.eventually(lambda: seen == [b"one"], what="the first record")
        await follower.restart()
        await kit.eventually(lambda: seen == [b"one", b"one"], what="the table read again after restart")
    finally:
        await follower.stop()
    await follower.restart()  # stopped for good: restart does nothing
    assert not follower.running


@pytest.mark.parametrize(("cap", "expected"), [(5.0, [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]), (0.3, [0.1, 0.2, 0.3])])
async def test_backoff_doubles_up_to_its_cap_and_resets(cap: float, expected: list[float], monkeypatch: Any) -> None:
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    backoff = Backoff(initial=0.1, cap=cap)
    for _ in expected:
        await backoff.wait()
    assert slept == pytest.approx(expected)
    backoff.reset()
    assert backoff.delay == 0.1

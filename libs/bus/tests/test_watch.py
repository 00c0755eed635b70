"""BrokerWatch against real tansu restarts: nothing a reset does may stop the watch for good.

A gateway once noticed the first of three restarts, started its reset, never finished it and missed the
other two restarts (its followers never read the recreated topics): these are that run's situations, made
deterministic.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from voltline_bus import BrokerWatch, BusConfig, FollowedRecord, Producer, TopicFollower, TopicSpec, ensure_topics
from voltline_devinfra.waiting import eventually

tansu_module = pytest.importorskip("voltline_devinfra.tansu")


@pytest.fixture
def tansu() -> Iterator[Any]:
    with tansu_module.TansuBroker() as broker:
        yield broker


async def restart(tansu: Any) -> None:
    await asyncio.to_thread(tansu.kill)
    await asyncio.to_thread(tansu.revive)


def config_for(tansu: Any) -> BusConfig:
    return BusConfig(bootstrap=tansu.bootstrap_servers, client_id="watch-test", idempotence=False)


async def test_a_reset_stuck_in_a_call_that_ignores_cancellation_is_left_behind_and_run_again(tansu: Any) -> None:
    watch = BrokerWatch(config_for(tansu), interval=0.2, handler_timeout=1.0, cancel_grace=0.3)
    runs: list[str] = []
    release = asyncio.Event()

    async def handler() -> None:
        runs.append(tansu.cluster_id)
        if len(runs) == 1:  # like a client call that swallows the cancellation and waits on
            while not release.is_set():
                with contextlib.suppress(asyncio.CancelledError):
                    await release.wait()

    watch.on_reset("stuck-once", handler)
    await watch.start()
    try:
        await restart(tansu)
        await eventually(lambda: watch.handled == 1, within=30, what="the reset handled by its second run")
        assert len(runs) == 2
        await restart(tansu)  # and the watch still notices the next restart
        await eventually(
            lambda: watch.handled == 2 and watch.cluster_id == tansu.cluster_id, within=30, what="the next reset"
        )
    finally:
        release.set()
        await watch.stop()


async def test_a_restart_during_the_reset_is_followed_by_a_reset_on_the_newest_broker(tansu: Any) -> None:
    config = config_for(tansu)
    spec = TopicSpec("watch-test-table", partitions=2)
    await ensure_topics(config, [spec])
    seen: list[bytes | None] = []

    def record(r: FollowedRecord) -> None:
        seen.append(r.value)

    follower = TopicFollower(config, spec.name, record, from_beginning=True)
    watch = BrokerWatch(config, interval=0.2, handler_timeout=20.0, cancel_grace=2.0)
    in_reset, go_on = asyncio.Event(), asyncio.Event()

    async def handler() -> None:  # what every owner does: topics first, then follow afresh
        await ensure_topics(config, [spec])
        in_reset.set()
        await go_on.wait()
        await follower.restart()

    watch.on_reset("follow", handler)
    await follower.start()
    await watch.start()
    try:
        await restart(tansu)
        await in_reset.wait()
        await restart(tansu)  # the broker dies again while the reset is under way
        go_on.set()
        await eventually(
            lambda: watch.handled >= 1 and watch.cluster_id == tansu.cluster_id,
            within=60,
            what="a reset completed on the newest broker",
        )
        async with Producer(config) as producer:
            await producer.publish_raw(spec.name, b"after-both-restarts", key=b"k")
        await eventually(lambda: b"after-both-restarts" in seen, within=30, what="the follower reading the new topic")
        assert follower.running
    finally:
        go_on.set()
        await watch.stop()
        await follower.stop()


async def test_the_watch_outlives_a_poll_that_fails_unexpectedly(tansu: Any, monkeypatch: Any) -> None:
    watch = BrokerWatch(config_for(tansu), interval=0.1)
    await watch.start()
    real = watch.check
    failures = 0

    async def flaky() -> bool:
        nonlocal failures
        if failures < 2:
            failures += 1
            raise ValueError("a surprise from the client library")
        return await real()

    monkeypatch.setattr(watch, "check", flaky)
    handled: list[str] = []

    async def handler() -> None:
        handled.append(tansu.cluster_id)

    watch.on_reset("count", handler)
    try:
        await eventually(lambda: failures == 2, within=10, what="two failed polls")
        await restart(tansu)
        await eventually(lambda: handled == [tansu.cluster_id], within=30, what="the restart noticed after them")
    finally:
        await watch.stop()

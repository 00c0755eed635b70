"""The faust worker keeps the group timing of every other consumer (docs/scaling.md): faust's own session
timeout is 60 s, which left a killed analytics replica's partitions unserved for a minute."""

from __future__ import annotations

from typing import Any

from voltline_analytics.adapters.faust_worker import FaustWorker
from voltline_bus import BusConfig, Producer, TopicSpec, ensure_topics


async def test_the_worker_joins_its_group_with_the_session_timeout_it_is_given(kafka: Any, topic_prefix: str) -> None:
    bus = BusConfig(kafka.bootstrap_servers, "analytics-test", session_timeout_ms=2000)
    topic = f"{topic_prefix}sessions"
    await ensure_topics(bus, [TopicSpec(topic, partitions=2)])

    async def apply(_batch: Any) -> None:
        return None

    async with Producer(bus) as producer:
        worker = FaustWorker(
            group_id=f"{topic_prefix}analytics",
            bootstrap=kafka.bootstrap_servers,
            topics=[topic],
            apply_batch=apply,
            dead_letter=producer,
            datadir=None,
            session_timeout_s=bus.session_timeout_ms / 1000,
            heartbeat_interval_s=bus.heartbeat_interval_ms() / 1000,
        )
        await worker.start()
        try:
            assert worker._app is not None
            assert worker._app.conf.broker_session_timeout == 2.0
            assert worker._app.conf.broker_heartbeat_interval == bus.heartbeat_interval_ms() / 1000
        finally:
            await worker.stop()

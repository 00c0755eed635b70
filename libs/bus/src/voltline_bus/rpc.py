"""Request/reply over Kafka: the gateway asks, a service answers on the asker's own reply topic.

Each requesting instance owns a reply topic and follows it (voltline_bus.follow: no consumer group, no
rebalances, no offsets), starting from its end: replies to requests of an earlier incarnation are of no use.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from types import TracebackType
from typing import Protocol, Self, cast

import structlog
from pydantic import ValidationError
from voltline_events import Envelope, Event, envelope_for, station_key

from voltline_bus.admin import TopicSpec, ensure_topics
from voltline_bus.config import BusConfig
from voltline_bus.errors import BusError, RequestTimeout
from voltline_bus.follow import FollowedRecord, TopicFollower
from voltline_bus.metrics import LATE_REPLIES, REQUEST_LATENCY, REQUEST_STAGES, REQUEST_TIMEOUTS
from voltline_bus.producer import Producer
from voltline_bus.reaper import KEEPALIVE_HEADER, KEEPALIVE_S, STALE_AFTER_S, reap_reply_topics

log = structlog.get_logger()

# Replies matter for seconds; keep them an hour for debugging, not forever.
REPLY_RETENTION_MS = 3_600_000


class RequestWriter(Protocol):
    """What the client uses of a Producer: the gateway passes its batching request writer instead."""

    async def publish(self, topic: str, envelope: Envelope, *, key: bytes | None = None) -> None: ...

    async def partitions_for(self, topic: str) -> set[int]: ...


class RequestReplyClient:
    """Sends requests with `reply_to=reply_topic` and matches replies by `correlation_id`."""

    def __init__(
        self,
        config: BusConfig,
        producer: RequestWriter,
        reply_topic: str,
        *,
        reply_partitions: int = 1,
        reply_retention_ms: int | None = REPLY_RETENTION_MS,
        keepalive_s: float | None = KEEPALIVE_S,
        reap_prefix: str | None = None,
        reap_stale_after_s: float = STALE_AFTER_S,
        keepalive_producer: Producer | None = None,
    ) -> None:
        self._config = config
        self._producer = producer
        self._reply_topic = reply_topic
        self._spec = TopicSpec(reply_topic, partitions=reply_partitions, retention_ms=reply_retention_ms)
        self._follower = TopicFollower(
            config, reply_topic, self._on_record, from_beginning=False, partitions_for=producer.partitions_for,
            name="replies", fetch_max_wait_ms=config.request_fetch_wait_ms,
        )  # fmt: skip
        self._pending: dict[str, asyncio.Future[Envelope]] = {}
        self._keepalive_s = keepalive_s
        # The gateway passes its request writer as `producer`; keepalives need a plain Producer.
        self._keepalive_producer = keepalive_producer or cast(Producer, producer)
        self._reap_prefix = reap_prefix
        self._reap_stale_after_s = reap_stale_after_s
        self._housekeeping: asyncio.Task[None] | None = None
        self._wanted = False  # started and not stopped: restart() also resumes an interrupted restart

    @property
    def reply_topic(self) -> str:
        return self._reply_topic

    async def start(self) -> None:
        """Create the reply topic and position at its end before any request can go out."""
        if self._follower.running:
            return
        self._wanted = True
        await ensure_topics(self._config, [self._spec])
        await self._follower.start()
        if self._keepalive_s is not None and self._housekeeping is None:
            self._housekeeping = asyncio.create_task(self._keep_alive(self._keepalive_s), name="replies:keepalive")
        log.info("request/reply client started", reply_topic=self._reply_topic)

    async def _keep_alive(self, every_s: float) -> None:
        """Mark the reply topic alive, then clean up the topics of instances that are gone; repeat."""
        while True:
            try:
                await self._keepalive_producer.publish_raw(self._reply_topic, b"", headers=[(KEEPALIVE_HEADER, b"1")])
            except BusError as exc:
                log.warning("reply topic keepalive failed", reply_topic=self._reply_topic, error=repr(exc))
                await asyncio.sleep(min(every_s, 5.0))
                continue
            if self._reap_prefix is not None:
                await reap_reply_topics(
                    self._config, self._reap_prefix, alive=self._reply_topic, stale_after_s=self._reap_stale_after_s
                )
            await asyncio.sleep(every_s)

    async def stop(self) -> None:
        """Stop reading replies; requests still waiting get RequestTimeout (callers fall back)."""
        self._wanted = False
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            await asyncio.gather(self._housekeeping, return_exceptions=True)
            self._housekeeping = None
        await self._follower.stop()
        for correlation_id, future in list(self._pending.items()):
            if not future.done():
                future.set_exception(
                    RequestTimeout("request/reply client stopped before the reply", correlation_id=correlation_id)
                )
        self._pending.clear()

    async def restart(self) -> None:
        """Recreate the reply topic and read it afresh (after the broker restarted empty); requests in flight
        keep waiting for their replies until their own timeout."""
        if not self._wanted:
            return
        await self._follower.stop()
        await self.start()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def request(
        self,
        topic: str,
        envelope: Envelope,
        *,
        key: bytes | None = None,
        timeout: float,  # noqa: ASYNC109 - part of the API services call; asyncio.timeout is used inside
    ) -> Envelope:
        """Publish `envelope` to `topic` and return the reply; RequestTimeout after `timeout` s.

        The timeout covers publishing too. A reply arriving later is dropped (and logged).
        """
        if not self._follower.running:
            raise BusError("RequestReplyClient is not running")
        correlation_id = envelope.correlation_id or str(uuid.uuid4())
        if correlation_id in self._pending:
            raise BusError(f"a request with correlation_id {correlation_id!r} is already waiting")
        request = envelope.model_copy(update={"correlation_id": correlation_id, "reply_to": self._reply_topic})
        future: asyncio.Future[Envelope] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = future
        bound = log.bind(
            topic=topic,
            event_type=request.type,
            event_id=str(request.event_id),
            station_id=request.station_id,
            correlation_id=correlation_id,
        )
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                await self._producer.publish(topic, request, key=key)
                REQUEST_STAGES.labels("request_publish").observe(time.perf_counter() - started)
                reply = await future
        except TimeoutError as exc:
            if isinstance(exc, RequestTimeout):
                raise
            REQUEST_TIMEOUTS.labels(topic).inc()
            bound.warning("request timed out", timeout=timeout)
            raise RequestTimeout(
                f"no reply to {request.type} on {topic!r} within {timeout}s", correlation_id=correlation_id
            ) from None
        finally:
            self._pending.pop(correlation_id, None)
        REQUEST_LATENCY.labels(topic).observe(time.perf_counter() - started)
        bound.debug("reply received", reply_type=reply.type)
        return reply

    def _on_record(self, record: FollowedRecord) -> None:
        if any(name == KEEPALIVE_HEADER for name, _ in record.headers or ()):
            return
        self._deliver(record.value, record.offset)

    def _deliver(self, value: bytes | None, offset: int) -> None:
        try:
            reply = Envelope.from_bytes(value or b"")
        except (ValidationError, ValueError):
            log.warning("reply is not a valid envelope; dropped", reply_topic=self._reply_topic, offset=offset)
            return
        future = self._pending.get(reply.correlation_id or "")
        if future is None or future.done():
            LATE_REPLIES.labels(self._reply_topic).inc()
            log.info(
                "late or unknown reply dropped",
                reply_topic=self._reply_topic,
                event_type=reply.type,
                event_id=str(reply.event_id),
                station_id=reply.station_id,
                correlation_id=reply.correlation_id,
            )
            return
        REQUEST_STAGES.labels("reply_delivery").observe(_age(reply.time))
        future.set_result(reply)


def _age(at: datetime) -> float:
    return max(0.0, (datetime.now(UTC) - at).total_seconds())


async def reply(producer: Producer, request: Envelope, payload: Event, *, source: str) -> None:
    """Answer `request` on its `reply_to` topic, keyed by station, with the same correlation id.

    Requests without `reply_to` (or `correlation_id`) cannot be answered; they are logged and ignored.
    """
    if not request.reply_to or not request.correlation_id:
        log.warning(
            "request without reply_to/correlation_id; not replying",
            event_type=request.type,
            event_id=str(request.event_id),
            station_id=request.station_id,
            correlation_id=request.correlation_id,
        )
        return
    envelope = envelope_for(
        payload,
        source=source,
        station_id=request.station_id,
        correlation_id=request.correlation_id,
        session_id=request.session_id,
        message_id=request.message_id,
    )
    key = station_key(request.station_id) if request.station_id else None
    REQUEST_STAGES.labels("until_answered").observe(_age(request.time))
    started = time.perf_counter()
    await producer.publish(request.reply_to, envelope, key=key)
    REQUEST_STAGES.labels("reply_publish").observe(time.perf_counter() - started)

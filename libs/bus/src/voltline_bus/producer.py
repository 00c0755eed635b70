"""Publishing envelopes with acks=all: publish() returns only once the broker has the message."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from types import TracebackType
from typing import NamedTuple, Self

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from voltline_events import Envelope

from voltline_bus import headers as h
from voltline_bus import tracing
from voltline_bus._retry import is_transient, retry_until_reachable
from voltline_bus.config import BusConfig
from voltline_bus.errors import BusError, PublishError
from voltline_bus.headers import Headers, envelope_headers
from voltline_bus.metrics import PUBLISH_FAILURES, PUBLISH_LATENCY

log = structlog.get_logger()


class Outgoing(NamedTuple):
    """One message for publish_many; a plain (topic, envelope, key) tuple works too."""

    topic: str
    envelope: Envelope
    key: bytes | None = None


class Producer:
    """A started-once, shared-by-the-process Kafka producer.

    acks=all always; idempotence follows the config (the tansu dev broker needs it off). aiokafka
    keeps at most one batch in flight per partition, so messages with one key stay in order.
    """

    def __init__(self, config: BusConfig) -> None:
        self._config = config
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        if self._producer is not None:
            return
        config = self._config

        async def connect() -> AIOKafkaProducer:
            producer = AIOKafkaProducer(
                **config.connection(),
                client_id=config.client_id,
                acks="all",
                enable_idempotence=config.idempotence,
                linger_ms=config.linger_ms,
                request_timeout_ms=config.request_timeout_ms,
            )
            try:
                await producer.start()
            except BaseException as exc:
                await producer.stop()
                if config.idempotence and isinstance(exc, KafkaError) and not is_transient(exc):
                    # With idempotence, start() also runs InitProducerId, which tansu does not serve.
                    raise BusError(
                        f"idempotent producer could not initialise ({exc!r}); brokers without idempotent "
                        "producers (tansu) need BusConfig(idempotence=False)"
                    ) from exc
                raise
            return producer

        self._producer = await retry_until_reachable(
            connect, what="producer", bootstrap=config.bootstrap, give_up_after=config.connect_timeout
        )
        log.info("producer started", bootstrap=config.bootstrap, idempotence=config.idempotence)

    async def stop(self) -> None:
        """Flush what is queued (waiting for acks) and disconnect."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
            log.info("producer stopped")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def publish(self, topic: str, envelope: Envelope, *, key: bytes | None = None) -> None:
        """Send one envelope and wait for the broker's acknowledgement; raises PublishError."""
        envelope = tracing.stamped(envelope)
        await self.publish_raw(topic, envelope.to_bytes(), key=key, headers=envelope_headers(envelope))
        log.debug(
            "published",
            topic=topic,
            event_type=envelope.type,
            event_id=str(envelope.event_id),
            station_id=envelope.station_id,
            correlation_id=envelope.correlation_id,
        )

    async def publish_many(self, items: Iterable[Outgoing | tuple[str, Envelope, bytes | None]]) -> None:
        """Send many envelopes at once and wait until every one is acknowledged.

        Messages are queued in the given order (so per-key order holds) and batched by aiokafka.
        If any is not acknowledged, PublishError lists the failed positions in `.failed`; the
        others did reach the broker, so a caller retrying the whole batch creates duplicates,
        which consumers tolerate (they dedupe by event_id). If queueing itself fails, nothing
        after that message is sent.
        """
        batch = [Outgoing(*item) for item in items]
        if tracing.enabled():
            batch = [item._replace(envelope=tracing.stamped(item.envelope)) for item in batch]
        await self._send_all([(i.topic, i.envelope.to_bytes(), i.key, envelope_headers(i.envelope)) for i in batch])

    async def publish_many_stored(self, items: Iterable[tuple[str, bytes, bytes | None]]) -> None:
        """`publish_many` for envelopes already encoded (an outbox's rows): the bytes go out as they are, the
        headers read from them with a plain JSON parse instead of validating and encoding each envelope again.
        With tracing on, an envelope not stamped yet takes the `publish_many` path (it gets a traceparent)."""
        out: list[tuple[str, bytes, bytes | None, Headers]] = []
        for topic, value, key in items:
            fields = json.loads(value)
            if tracing.enabled() and fields.get("traceparent") is None:
                envelope = tracing.stamped(Envelope.from_bytes(value))
                out.append((topic, envelope.to_bytes(), key, envelope_headers(envelope)))
                continue
            headers = [
                (h.EVENT_TYPE, fields["type"].encode()),
                (h.SCHEMA_VERSION, str(fields["schema_version"]).encode()),
                (h.EVENT_ID, fields["event_id"].encode()),
            ]
            if fields.get("traceparent") is not None:
                headers.append(("traceparent", fields["traceparent"].encode()))
            out.append((topic, value, key, headers))
        await self._send_all(out)

    async def _send_all(self, batch: list[tuple[str, bytes, bytes | None, Headers]]) -> None:
        """Queue every message in order, wait for every acknowledgement; PublishError lists failed positions."""
        if not batch:
            return
        producer = self._started()
        started = time.perf_counter()
        futures: list[asyncio.Future[object]] = []
        errors: list[tuple[int, BaseException]] = []
        for position, (topic, value, key, headers) in enumerate(batch):
            try:
                futures.append(await producer.send(topic, value, key=key, headers=headers))
            except KafkaError as exc:
                # Do not queue anything after a refused message: that could put a later event of the
                # same key ahead of it. The rest counts as failed, for the caller to retry.
                futures.extend(_failed_future(exc) for _ in batch[position:])
                break
        results = await asyncio.gather(*futures, return_exceptions=True)
        elapsed = time.perf_counter() - started
        for index, (item, result) in enumerate(zip(batch, results, strict=True)):
            if isinstance(result, BaseException):
                errors.append((index, result))
                PUBLISH_FAILURES.labels(item[0]).inc()
            else:
                PUBLISH_LATENCY.labels(item[0]).observe(elapsed)
        if errors:
            first_index, first = errors[0]
            topic = batch[first_index][0]
            log.error(
                "publish_many: messages not acknowledged", failed=len(errors), total=len(batch), error=repr(first)
            )
            raise PublishError(
                f"{len(errors)} of {len(batch)} messages not acknowledged (first on {topic!r}: {first!r})",
                topic=topic,
                failed=tuple(i for i, _ in errors),
            ) from first

    async def publish_raw(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers | None = None
    ) -> None:
        """Send bytes as they are (used for dead-lettering what may not even be an envelope)."""
        producer = self._started()
        started = time.perf_counter()
        try:
            future = await producer.send(topic, value, key=key, headers=headers or [])
            await future
        except KafkaError as exc:
            PUBLISH_FAILURES.labels(topic).inc()
            log.error("publish failed", topic=topic, error=repr(exc))
            raise PublishError(f"publish to {topic!r} not acknowledged: {exc!r}", topic=topic) from exc
        PUBLISH_LATENCY.labels(topic).observe(time.perf_counter() - started)

    async def partitions_for(self, topic: str) -> set[int]:
        """Partition ids of `topic`, waiting for metadata (raises BusError if the topic is unknown)."""
        try:
            return set(await self._started().partitions_for(topic))
        except KafkaError as exc:
            raise BusError(f"no metadata for topic {topic!r}: {exc!r}") from exc

    def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise BusError("Producer is not started")
        return self._producer


def _failed_future(exc: BaseException) -> asyncio.Future[object]:
    future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    future.set_exception(exc)
    return future

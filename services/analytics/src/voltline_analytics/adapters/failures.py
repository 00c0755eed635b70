"""The workers' failure rules, one copy for the batch and the faust worker: a failing batch is retried, then
applied event by event, and an event that still fails is parked on `<topic>.dlq` (retried until it is: an
event is never acknowledged before it is applied or parked)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import structlog
from voltline_bus import Backoff, Producer, tracing
from voltline_events import Envelope, Topics

from voltline_analytics import metrics

log = structlog.get_logger()
ApplyBatch = Callable[[Sequence[Envelope]], Awaitable[Any]]
Record = TypeVar("Record")


async def apply_or_park(
    apply: ApplyBatch,
    items: Sequence[tuple[Envelope, Record]],
    park: Callable[[Record, str], Awaitable[None]],
    attempts: int,
    whole: Sequence[Envelope] | None = None,
) -> None:
    """Apply the envelopes as one batch (`whole`: the same envelopes, prepared ahead); if that keeps failing,
    one by one, parking each one that fails."""
    if not items:
        return
    if await try_apply(apply, whole if whole is not None else [e for e, _ in items], attempts):
        return
    for envelope, record in items:  # isolate the bad one(s)
        if not await try_apply(apply, [envelope], attempts):
            await park(record, "failed to apply after retries")


async def try_apply(apply: ApplyBatch, envelopes: Sequence[Envelope], attempts: int) -> bool:
    backoff = Backoff(initial=0.4, cap=5.0)
    for attempt in range(1, attempts + 1):
        try:
            with tracing.consuming_batch("process analytics batch", envelopes):
                await apply(envelopes)
            return True
        except Exception as exc:
            log.warning("analytics_batch_failed", size=len(envelopes), attempt=attempt, error=repr(exc)[:500])
            await backoff.wait()
    return False


async def park(
    dead_letter: Producer, *, topic: str, partition: int, offset: int, value: bytes, key: bytes | None,
    reason: str,
) -> None:  # fmt: skip
    """Put a record on `<topic>.dlq`, retrying until it is there (it must never be committed before)."""
    metrics.EVENTS_DEAD_LETTERED.inc()
    log.error("analytics_dead_letter", topic=topic, partition=partition, offset=offset, reason=reason)
    backoff = Backoff(initial=0.5, cap=10.0)
    attempt = 0
    while True:
        attempt += 1
        try:
            headers = [("dlq.reason", reason.encode())]
            await dead_letter.publish_raw(Topics.dead_letter(topic), value, key=key, headers=headers)
            return
        except Exception as exc:
            log.warning("analytics_dead_letter_failed", attempt=attempt, error=repr(exc)[:300])
            await backoff.wait()

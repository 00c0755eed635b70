"""Waiting for a broker that is still starting (compose, k8s, `make run`) instead of crashing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError, NodeNotReadyError

from voltline_bus.errors import BrokerUnavailable, BusError

T = TypeVar("T")

log = structlog.get_logger()

_TRANSIENT = (KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError)


class Backoff:
    """Doubling waits from `initial` up to `cap` seconds; `reset()` after a success.

    The one backoff of the bus: reconnecting, following a topic, retrying a transient error.
    """

    def __init__(self, initial: float = 0.1, cap: float = 5.0) -> None:
        self.initial, self.cap = initial, cap
        self.delay = initial

    def next(self) -> float:
        """The wait due now; the following one is twice as long (up to `cap`). For callers that wait
        their own way (interruptibly)."""
        delay, self.delay = self.delay, min(self.delay * 2, self.cap)
        return delay

    async def wait(self) -> None:
        await asyncio.sleep(self.next())

    def reset(self) -> None:
        self.delay = self.initial


def is_transient(exc: KafkaError) -> bool:
    return isinstance(exc, _TRANSIENT) or bool(getattr(exc, "retriable", False))


async def retry_until_reachable(
    attempt: Callable[[], Awaitable[T]], *, what: str, bootstrap: str, give_up_after: float
) -> T:
    """Run `attempt` until it succeeds, retrying transient Kafka errors for up to `give_up_after` seconds.

    `attempt` must build its client afresh and close it on failure: aiokafka clients are not
    meant to be started twice. Other Kafka errors are raised at once as BusError.
    """
    deadline = time.monotonic() + give_up_after
    backoff = Backoff(cap=2.0)
    while True:
        try:
            return await attempt()
        except KafkaError as exc:
            if not is_transient(exc):
                raise BusError(f"{what}: {exc!r}") from exc
            if time.monotonic() + backoff.delay > deadline:
                raise BrokerUnavailable(
                    f"{what}: Kafka at {bootstrap} not reachable within {give_up_after:.0f}s ({exc!r})"
                ) from exc
            log.info(
                "kafka not reachable yet, retrying",
                what=what,
                bootstrap=bootstrap,
                error=repr(exc),
                retry_in=backoff.delay,
            )
            await backoff.wait()

"""Stopping an aiokafka client without letting its shutdown take the caller down.

aiokafka's `stop()` can raise a CancelledError nobody asked for: the fetcher cancels its pending tasks (an
offset reset retrying against a topic that vanished with a broker restart, say) and awaits them without
catching it (aio-libs/aiokafka#647). Raised in a task that is not being cancelled, it ends that task as if
cancelled: the broker watch died that way in the middle of a reset. A stop that hangs on a vanished broker is
given up after `within` seconds (the client is dropped).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import structlog

log = structlog.get_logger()


class Stoppable(Protocol):
    async def stop(self) -> None: ...


async def stop_client(client: Stoppable, *, what: str, within: float = 5.0) -> None:
    task = asyncio.current_task()
    try:
        async with asyncio.timeout(within):
            await client.stop()
    except TimeoutError:
        log.warning("a Kafka client did not stop in time; dropping it", client=what, timeout_s=within)
    except asyncio.CancelledError:
        if task is None or task.cancelling():
            raise  # a real cancellation of the caller
        log.warning("a Kafka client raised a stray CancelledError while stopping; ignored", client=what)

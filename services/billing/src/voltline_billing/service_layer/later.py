"""Work that must follow a committed batch: payment provider calls after session starts and ends.

Billing's consumer handles `session.started` and `session.ended` inside its batch transactions (one commit for
many events). Their provider calls (hold, capture, sale) must not run inside the transaction (a batch that rolls
back and is handled again would call twice) nor hold it open (a provider takes up to `provider_timeout_s`). So
the use cases hand them to `Later` once the batch has committed: a few lanes of background work, in order per
key (a session's hold before its capture), off the consumer's path. What a crash or a full lane drops is not
lost: the payment is committed in a state the payment worker drives (`pending_hold`, `due`), with the same
idempotency keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import Awaitable, Callable

from voltline_chassis import get_logger

log = get_logger(__name__)
Work = Callable[[], Awaitable[None]]


class Later:
    """`later.submit(key, work)`: run `work` in the background, after every earlier work of the same key."""

    def __init__(self, lanes: int = 4, bound: int = 10_000) -> None:
        self._queues: list[asyncio.Queue[Work]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._lanes = lanes
        self._bound = bound  # per lane; beyond it work is left to the payment worker
        self.dropped = 0

    def submit(self, key: str, work: Work) -> None:
        if not self._tasks:
            self._queues = [asyncio.Queue(self._bound) for _ in range(self._lanes)]
            self._tasks = [
                asyncio.create_task(self._run(q), name=f"billing-later-{n}") for n, q in enumerate(self._queues)
            ]
        try:
            self._queues[zlib.crc32(key.encode()) % self._lanes].put_nowait(work)
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("after_commit_work_dropped", key=key, note="left to the payment worker")

    async def _run(self, queue: asyncio.Queue[Work]) -> None:
        while True:
            work = await queue.get()
            try:
                await work()
            except Exception as exc:  # each work logs its own failures; this keeps the lane alive
                log.warning("after_commit_work_failed", error=repr(exc))
            finally:
                queue.task_done()

    async def idle(self) -> None:
        """Wait until everything submitted so far has run (tests, shutdown)."""
        for queue in self._queues:
            await queue.join()

    async def close(self, grace: float = 10.0) -> None:
        """Let submitted work finish for up to `grace` seconds, then cancel the lanes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.idle(), grace)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks, self._queues = [], []

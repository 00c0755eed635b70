"""Hourly clean-up, so the auth store stays bounded: old decision log rows, inbox markers, sent outbox rows."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

from voltline_chassis.logging import get_logger

log = get_logger(__name__)

Job = tuple[str, Callable[[], Awaitable[int]]]


class Housekeeping:
    def __init__(self, jobs: Sequence[Job], *, every_s: float = 3600.0) -> None:
        self._jobs = list(jobs)
        self._every = every_s
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> dict[str, int]:
        removed: dict[str, int] = {}
        for name, job in self._jobs:
            try:
                removed[name] = await job()
            except Exception:
                log.exception("housekeeping job failed", job=name)
        return removed

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="housekeeping")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            removed = await self.run_once()
            log.info("housekeeping done", removed=removed)

"""Waiting in tests for something asynchronous (a relay, a consumer, a sync) to have happened."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def eventually(check: Callable[[], Awaitable[bool] | bool], within: float = 30.0, interval: float = 0.05) -> None:
    """Poll `check` (plain or async) until it is true; TimeoutError after `within` seconds."""
    async with asyncio.timeout(within):
        while True:
            outcome = check()
            if await outcome if isinstance(outcome, Awaitable) else outcome:
                return
            await asyncio.sleep(interval)

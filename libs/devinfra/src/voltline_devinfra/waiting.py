"""Waiting in tests for something asynchronous (a relay, a consumer, a sync) to have happened.

The one polling helper of the test suites: a test waits for a positive signal, never sleeps to show that
something did not happen. It waits for a result, it does not assert on speed (`within` is a safety net).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


class NeverHappened(TimeoutError):
    """`eventually` gave up: says what it waited for and the last thing it saw."""


async def eventually(
    check: Callable[[], Awaitable[T] | T],
    within: float = 60.0,
    interval: float = 0.1,
    *,
    ok: Callable[[T], Any] | None = None,
    what: str = "condition",
) -> T:
    """Poll `check` (plain or async) until its result is truthy, or `ok(result)` is; return that result.

    Raises `NeverHappened` (a TimeoutError) after `within` seconds, naming `what` and the last result.
    """
    seen: list[T] = []
    try:
        async with asyncio.timeout(within):
            while True:
                outcome = check()
                result: T = await outcome if inspect.isawaitable(outcome) else outcome
                if ok(result) if ok is not None else result:
                    return result
                seen[:] = [result]
                await asyncio.sleep(interval)
    except TimeoutError as timeout:
        last = repr(seen[0]) if seen else "nothing (the check never returned)"
        raise NeverHappened(f"gave up waiting for {what} after {within}s; last seen: {last}") from timeout

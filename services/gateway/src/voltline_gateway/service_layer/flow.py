"""Flow control at the dispatcher (ADR 0027): hold the answer to a deferrable call while consumers lag.

The hold comes from `domain.flow.Throttle`, which the lag watch adjusts in the background; here it only
costs a set lookup per call, and nothing at all for calls that are never held (Authorize, boots, starts).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from typing import Any, Protocol, runtime_checkable

from voltline_gateway.domain.flow import DEFERRABLE, Throttle, deferrable
from voltline_gateway.metrics import FLOW_HELD_SECONDS, held


@runtime_checkable
class Holdable(Protocol):
    """A connection that can cut a hold short (a command for its station must have its answer read)."""

    async def hold(self, seconds: float) -> None: ...


class FlowGate:
    def __init__(self, throttle: Throttle, actions: Collection[str] = DEFERRABLE) -> None:
        self._throttle = throttle
        self._actions = frozenset(actions)

    def hold_for(self, action: str, payload: Mapping[str, Any]) -> float:
        """Seconds to hold this call before handling it (0: at once)."""
        hold = self._throttle.hold_s
        if hold <= 0 or not deferrable(action, payload, self._actions):
            return 0.0
        return hold

    async def wait(self, link: object, action: str, seconds: float) -> None:
        held(action).inc()
        FLOW_HELD_SECONDS.inc(seconds)
        # Not isinstance(link, Holdable): a runtime-checkable Protocol check costs ~10 us, on every held call.
        hold = getattr(link, "hold", None)
        if hold is not None:
            await hold(seconds)
        else:
            await asyncio.sleep(seconds)

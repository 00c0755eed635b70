"""Flow control (ADR 0027): which station calls may wait for their answer, and for how long, while the
consumers of station events lag. Pure rules: the lag comes in, a hold in seconds goes out.

In OCPP-J a station waits for the answer to its call before it sends the next one, so holding an answer
slows that station down without refusing or losing anything. Only calls nobody is waiting on are held: an
Authorize, a boot or a transaction start (a driver at the charger, a session being counted) never is.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

# Calls whose answer carries nothing a driver or a session waits for. TransactionEvent counts only as an
# "Updated" without an idToken (2.x meter readings; an idToken there asks for an authorisation).
DEFERRABLE: frozenset[str] = frozenset(
    {
        "MeterValues",
        "Heartbeat",
        "StatusNotification",
        "TransactionEvent",
        "FirmwareStatusNotification",
        "DiagnosticsStatusNotification",
        "LogStatusNotification",
        "SecurityEventNotification",
        "NotifyEvent",
        "NotifyReport",
        "NotifyMonitoringReport",
    }
)


def deferrable(action: str, payload: Mapping[str, Any], actions: Collection[str] = DEFERRABLE) -> bool:
    """Whether the answer to this call may be held while consumers lag."""
    if action not in actions:
        return False
    if action == "TransactionEvent":
        return payload.get("eventType") == "Updated" and "idToken" not in payload
    return True


@dataclass(frozen=True)
class FlowPolicy:
    """Above `lag_high` records the hold grows (x`grow` per observation, from `min_hold_s`) up to
    `max_hold_s`; below `lag_low` it shrinks (x`shrink`, to zero under `min_hold_s`); between, it stays."""

    lag_high: int = 1000
    lag_low: int = 200
    max_hold_s: float = 10.0
    min_hold_s: float = 0.05
    grow: float = 2.0
    shrink: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.lag_low <= self.lag_high:
            raise ValueError("flow control needs 0 <= lag_low <= lag_high")
        if not 0 < self.min_hold_s <= self.max_hold_s:
            raise ValueError("flow control needs 0 < min_hold_s <= max_hold_s")
        if self.grow <= 1 or not 0 < self.shrink < 1:
            raise ValueError("flow control needs grow > 1 and 0 < shrink < 1")


class Throttle:
    """The current hold, adjusted at every lag observation (multiplicative increase and decrease: it finds
    the rate the consumers keep up with whatever the number of stations, and lets go as soon as they do)."""

    __slots__ = ("hold_s", "policy")

    def __init__(self, policy: FlowPolicy) -> None:
        self.policy = policy
        self.hold_s = 0.0

    def observe(self, lag: int | None) -> float:
        """The new hold, given the largest lag of a consumer group that counts (None: not known; no hold)."""
        p = self.policy
        if lag is None:
            self.hold_s = 0.0  # fail open: without a reading, slowing stations down helps nobody
        elif lag > p.lag_high:
            self.hold_s = min(p.max_hold_s, max(p.min_hold_s, self.hold_s * p.grow))
        elif lag < p.lag_low:
            held = self.hold_s * p.shrink
            self.hold_s = held if held >= p.min_hold_s else 0.0
        return self.hold_s


@dataclass
class GroupProgress:
    """What is known of one consumer group between observations: to tell a slow group from a stopped one."""

    committed: int
    since: float  # monotonic time the committed total last moved


def counted_lag(
    lags: Mapping[str, tuple[int, int]], progress: dict[str, GroupProgress], now: float, stall_s: float
) -> tuple[int, set[str]]:
    """The largest lag among groups that make progress, and the groups left out as stalled.

    `lags` maps group -> (records behind the log end, sum of its committed offsets). A group whose committed
    offsets have not moved for `stall_s` while it lags is stopped, not slow (its service is down or stuck):
    holding stations back would not drain it, so it does not count until it moves again. `progress` is
    updated in place.
    """
    worst, stalled = 0, set()
    for group, (lag, committed) in lags.items():
        seen = progress.get(group)
        if seen is None or seen.committed != committed or lag == 0:
            progress[group] = seen = GroupProgress(committed, now)
        if lag > 0 and now - seen.since > stall_s:
            stalled.add(group)
            continue
        worst = max(worst, lag)
    for group in set(progress) - set(lags):
        del progress[group]
    return worst, stalled

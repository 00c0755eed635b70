"""Flow control's pure rules (ADR 0027): what may be held, how the hold moves, which groups count."""

from __future__ import annotations

import pytest
from voltline_gateway.domain.flow import FlowPolicy, GroupProgress, Throttle, counted_lag, deferrable


def test_only_calls_nobody_waits_on_are_deferrable() -> None:
    assert deferrable("MeterValues", {}) and deferrable("Heartbeat", {}) and deferrable("StatusNotification", {})
    for action in ("Authorize", "BootNotification", "StartTransaction", "StopTransaction", "DataTransfer"):
        assert not deferrable(action, {})
    assert deferrable("TransactionEvent", {"eventType": "Updated"})
    assert not deferrable("TransactionEvent", {"eventType": "Started"})
    assert not deferrable("TransactionEvent", {"eventType": "Updated", "idToken": {"idToken": "A", "type": "Local"}})
    assert not deferrable("MeterValues", {}, actions={"Heartbeat"})


def test_the_hold_grows_to_the_ceiling_while_lag_is_high_holds_between_and_lets_go_below_low() -> None:
    throttle = Throttle(FlowPolicy(lag_high=100, lag_low=10, max_hold_s=1.0, min_hold_s=0.1))
    assert throttle.observe(50) == 0.0  # between the bounds with no hold: none starts
    holds = [throttle.observe(500) for _ in range(6)]
    assert holds == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert throttle.observe(50) == 1.0  # between: kept
    assert [throttle.observe(5) for _ in range(4)] == [0.5, 0.25, 0.125, 0.0]
    throttle.observe(500)
    assert throttle.observe(None) == 0.0  # lag unknown: fail open


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError):
        FlowPolicy(lag_high=10, lag_low=20)
    with pytest.raises(ValueError):
        FlowPolicy(max_hold_s=0.01, min_hold_s=0.05)


def test_a_group_that_commits_nothing_while_lagging_stops_counting_until_it_moves() -> None:
    progress: dict[str, GroupProgress] = {}
    assert counted_lag({"session": (500, 10), "billing": (20, 7)}, progress, 0.0, 30.0) == (500, set())
    assert counted_lag({"session": (900, 10), "billing": (20, 9)}, progress, 31.0, 30.0) == (20, {"session"})
    assert counted_lag({"session": (800, 110), "billing": (20, 9)}, progress, 32.0, 30.0) == (800, set())
    assert counted_lag({"billing": (0, 9)}, progress, 100.0, 30.0) == (0, set())  # caught up: never stalled
    assert set(progress) == {"billing"}

"""The one backoff of the bus (consumer retries, dead-lettering, followers, reconnects)."""

from __future__ import annotations

from voltline_bus._retry import Backoff


def test_waits_double_up_to_the_cap_and_start_over_after_a_reset() -> None:
    backoff = Backoff(initial=0.2, cap=1.0)

    assert [backoff.next() for _ in range(5)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    backoff.reset()
    assert (backoff.delay, backoff.next(), backoff.delay) == (0.2, 0.2, 0.4)

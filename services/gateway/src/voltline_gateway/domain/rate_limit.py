"""Frames per station per second: a token bucket, so bursts (a boot, a backlog after being offline) pass."""

from __future__ import annotations


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up; one token per frame."""

    __slots__ = ("_last", "_tokens", "burst", "rate", "refused_in_a_row")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst = rate, burst
        self._tokens, self._last = burst, now
        self.refused_in_a_row = 0

    def allow(self, now: float) -> bool:
        tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            self.refused_in_a_row = 0
            return True
        self._tokens = tokens
        self.refused_in_a_row += 1
        return False

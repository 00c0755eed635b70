"""A token bucket per client (the public location search is open to anyone): pure, the clock is passed in."""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """`rate_per_min` requests a minute per key with bursts of `burst`; the `max_keys` least recently seen keys
    are forgotten first (a flood of addresses cannot grow memory without bound)."""

    def __init__(self, rate_per_min: float, burst: int, max_keys: int = 100_000) -> None:
        self._rate = rate_per_min / 60.0
        self._burst = float(burst)
        self._max = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str, now: float) -> float:
        """0 when the request may go ahead, else the seconds until it may (for Retry-After)."""
        bucket = self._buckets.pop(key, None) or _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        self._buckets[key] = bucket
        if len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate if self._rate > 0 else math.inf

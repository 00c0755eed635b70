"""Refused and timed-out connects: each counted in a metric, and logged once, at a bounded rate.

A flood of bad upgrades must not grow the log without bound (one line each once reached 13.7 MB): at
most `per_second` lines a second (bursts of `burst`); the next line that gets through says how many
were left out. The metric counts every one; `logged` and `suppressed` count the lines written and left out
since start (they only grow, so a reader can compare them before and after a burst).
"""

from __future__ import annotations

import time

import structlog

from voltline_gateway.domain.rate_limit import TokenBucket
from voltline_gateway.metrics import CONNECTS

log = structlog.get_logger()


class RefusalLog:
    def __init__(self, *, per_second: float = 5.0, burst: float = 50.0) -> None:
        self._bucket = TokenBucket(per_second, burst, time.monotonic())
        self.logged = 0
        self.suppressed = 0
        self._unlogged = 0  # left out since the last line: the next line says so

    def record(self, *, code: str, station_id: str | None, address: str | None, reason: str, status: int) -> None:
        CONNECTS.labels(outcome=code).inc()
        if not self._bucket.allow(time.monotonic()):
            self.suppressed += 1
            self._unlogged += 1
            return
        extra = {"not_logged_before": self._unlogged} if self._unlogged else {}
        self._unlogged = 0
        self.logged += 1
        log.info(
            "connection refused",
            station_id=station_id,
            remote_address=address,
            code=code,
            status=status,
            reason=reason,
            **extra,
        )

"""The load generator's cheap frames are StationFeed's, byte for byte (run: `uv run pytest bench/gateway`)."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest.mock import patch

import pytest

from bench.gateway import payloads
from bench.gateway.payloads import StationFeed, TemplateFeed


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
@pytest.mark.parametrize("answer", [[3, "0", {"transactionId": 4711}], [4, "0", "InternalError", "x", {}]])
def test_template_frames_are_the_feeds_frames(version: str, answer: list[object]) -> None:
    clock = [1_764_990_000_123_000_000]

    def time_ns() -> int:
        return clock[0]

    def now() -> str:
        moment = datetime.fromtimestamp(clock[0] / 1e9, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    with patch.object(payloads.time, "time_ns", time_ns), patch.object(payloads, "_now", now):
        plain, cheap = StationFeed(version, "CP-1"), TemplateFeed(version, "CP-1")
        cheap.transaction = plain.transaction  # 2.x: the station's own id (made from the clock)
        for n in range(35):
            clock[0] += 137_000_000  # every frame a new millisecond (and second, now and then)
            expected, got = next(plain), next(cheap)
            assert got == expected, n
            if n == 0:
                plain.answered(answer)
                cheap.answered(answer)

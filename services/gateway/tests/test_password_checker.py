"""The password checker: fast verifiers inline; legacy bcrypt bounded, shared, and dropped when abandoned."""

from __future__ import annotations

import asyncio

import bcrypt
import pytest
from voltline_chassis.station_secrets import check, make_verifier
from voltline_gateway.adapters.registry import PasswordChecker, SlowCheckBusy
from voltline_gateway.domain.attempts import FailureWindow

PASSWORD = "a-long-random-secret-01"


def test_fast_verifier_round_trip() -> None:
    verifier = make_verifier(PASSWORD)
    assert check(PASSWORD, verifier) is True and check(PASSWORD + "x", verifier) is False
    assert make_verifier(PASSWORD) != verifier  # salted
    assert check(PASSWORD, "$2b$12$legacy") is None  # not ours: the caller takes the slow path
    assert check("🔌" * 40, verifier) is False  # any text, no exception


async def test_fast_verifiers_never_reach_the_slow_path() -> None:
    checker = PasswordChecker()
    assert await checker.verify("CP-1", PASSWORD, (make_verifier(PASSWORD),)) is True
    assert await checker.verify("CP-1", "wrong-password-000000", (make_verifier(PASSWORD),)) is False
    assert checker.slow_checks == 0


async def test_abandoned_legacy_checks_never_start() -> None:
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    checker = PasswordChecker(concurrency=1, queue=2)
    first = asyncio.ensure_future(checker.slow("CP-1", PASSWORD, legacy))
    await asyncio.sleep(0)
    abandoned = asyncio.ensure_future(checker.slow("CP-2", PASSWORD, legacy))
    await asyncio.sleep(0)
    with pytest.raises(SlowCheckBusy):  # the queue holds two distinct checks
        await checker.slow("CP-3", PASSWORD, legacy)
    abandoned.cancel()  # the station hung up while waiting
    assert await first is True
    assert checker.slow_checks == 1  # the abandoned one never ran
    assert await checker.verify("CP-1", PASSWORD, (legacy,)) is True and checker.slow_checks == 1  # remembered


def test_failure_window() -> None:
    window = FailureWindow(limit=2, window=10.0, max_keys=3)
    window.failed("a", 0.0)
    assert window.retry_after("a", 1.0) is None
    window.failed("a", 1.0)
    assert window.retry_after("a", 2.0) == pytest.approx(8.0)
    assert window.retry_after("a", 10.0) is None  # the window is over
    for key in "bcde":
        window.failed(key, 11.0)
    assert len(window) == 3  # bounded under a spray of addresses

"""Connection storms and wrong-password floods against a real gateway over real Kafka (issue 11, item 1).

Small enough for CI: a few hundred upgrades. The throughput figures (10,000 stations) are in bench/gateway.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from gateway_testing import FakeAuth, RunningGateway, charger, eventually, running_gateway
from prometheus_client import REGISTRY
from websockets.exceptions import InvalidStatus

pytestmark = pytest.mark.asyncio(loop_scope="module")

GOOD = "the-right-password-0001"
NEW = "the-rotated-password-02"
BOOT = {"chargePointVendor": "ACME", "chargePointModel": "Volt-22"}
ATTACKER = {"local_addr": ("127.0.0.2", 0)}  # another source address on the loopback
# Lines about refusals: a burst of 50 (RefusalLog's), then this many a second; slow enough that a few hundred
# refusals outrun it however long a loaded machine takes for them.
REFUSAL_BURST, REFUSAL_LINES_PER_S = 50, 0.5


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def system(kafka: Any) -> AsyncIterator[tuple[RunningGateway, FakeAuth]]:
    prefix = f"gwstorm-{uuid.uuid4().hex[:6]}."
    async with running_gateway(
        kafka,
        prefix,
        gateway_unknown_stations="refuse",
        failed_attempts_per_address=1_000_000,  # the address limit has a test of its own
        failed_attempts_per_station=5,
        handshake_timeout_s=20.0,  # as long as the clients wait: hundreds of upgrades at once on a loaded machine
        legacy_password_checks=1,
        legacy_password_queue=4,
        refusal_log_per_second=REFUSAL_LINES_PER_S,
    ) as gateway:
        auth = FakeAuth(kafka, prefix)
        await auth.start()
        for station in ("CP-TARGET", "CP-OTHER", "CP-ROT"):
            await auth.register(station, profile=1, password=GOOD)
        await auth.register("CP-OLD", profile=1, password=GOOD, legacy=True)
        await auth.register("CP-OLD2", profile=1, password=GOOD, legacy=True)
        registry = gateway.internals.registry
        await eventually(lambda: all(registry.get(s) for s in ("CP-TARGET", "CP-OTHER", "CP-ROT", "CP-OLD", "CP-OLD2")))
        try:
            yield gateway, auth
        finally:
            await auth.stop()


async def status_of(url: str, station_id: str, password: str | None, **kwargs: Any) -> int:
    """101 when admitted (and booted), else the refusal's HTTP status."""
    try:
        async with charger(url, station_id, password=password, open_timeout=20, **kwargs) as cp:
            await cp.call("BootNotification", BOOT)
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


def refused_total(outcome: str) -> float:
    return REGISTRY.get_sample_value("voltline_gateway_connections_total", {"outcome": outcome}) or 0.0


async def test_a_wrong_password_flood_delays_nobody_and_locks_nobody_out(system: Any) -> None:
    gateway, _ = system
    url = gateway.ocpp_url

    async def attacker() -> list[int]:  # waves of 10 at once
        answers: list[int] = []
        for wave in range(30):
            tries = (status_of(url, "CP-TARGET", f"wrong-password-{wave:04d}{i:04d}", **ATTACKER) for i in range(10))
            answers += await asyncio.gather(*tries)
        return answers

    flood = asyncio.ensure_future(attacker())
    # While the flood runs, other stations and the attacked station itself (right password) get in at once.
    started = time.perf_counter()
    assert await status_of(url, "CP-OTHER", GOOD) == 101
    assert await status_of(url, "CP-TARGET", GOOD) == 101
    honest = time.perf_counter() - started
    # Not queued behind it: in before its 30 waves are through (a bound in seconds moved with the load).
    still_flooding = not flood.done()
    answers = await flood
    assert set(answers) <= {401, 429} and answers.count(429) >= 250  # backed off after 5 failures
    assert still_flooding, f"honest stations waited {honest:.1f} s, until the flood was over"
    assert refused_total("station_backoff") >= 250 and refused_total("wrong_password") >= 5


async def test_legacy_bcrypt_flood_is_bounded_and_the_station_is_not_locked_out(system: Any) -> None:
    gateway, _ = system
    url = gateway.ocpp_url
    checker = gateway.internals.server._upgrade._passwords
    before = checker.slow_checks
    answers: list[int] = []
    for wave in range(10):
        tries = (status_of(url, "CP-OLD", f"wrong-password-{wave:04d}{i:04d}", **ATTACKER) for i in range(10))
        answers += await asyncio.gather(*tries)
    assert set(answers) <= {401, 429, 503} and 429 in answers
    assert checker.slow_checks - before <= 10  # 5 failures, then no bcrypt at all for this station
    assert await status_of(url, "CP-OLD2", GOOD) == 101  # another legacy station: its check was not queued behind


async def test_a_rotated_password_works_before_the_registry_record_arrives(system: Any) -> None:
    gateway, auth = system
    # auth has switched (the station was told) but the registry topic has not delivered it yet
    await auth.register("CP-ROT", profile=1, password=NEW, others=(GOOD,), publish=False)
    assert await status_of(gateway.ocpp_url, "CP-ROT", NEW) == 101  # read-your-writes: the gateway asked auth
    assert await status_of(gateway.ocpp_url, "CP-ROT", GOOD) == 101  # the old one works until the new was used


async def test_address_limit_answers_429_with_retry_after(kafka: Any) -> None:
    prefix = f"gwaddr-{uuid.uuid4().hex[:6]}."
    async with running_gateway(kafka, prefix, gateway_unknown_stations="refuse", failed_attempts_per_address=3) as gw:
        auth = FakeAuth(kafka, prefix)
        await auth.start()
        try:
            await auth.register("CP-A", profile=1, password=GOOD)
            await eventually(lambda: gw.internals.registry.get("CP-A") is not None)
            answers = [await status_of(gw.ocpp_url, "CP-A", "wrong-password-000000", **ATTACKER) for _ in range(5)]
            assert answers == [401, 401, 401, 429, 429]
            with pytest.raises(InvalidStatus) as caught:
                async with charger(gw.ocpp_url, "CP-A", password=GOOD, local_addr=("127.0.0.2", 0)):
                    pass
            assert caught.value.response.status_code == 429
            assert int(caught.value.response.headers["Retry-After"]) >= 1
            assert await status_of(gw.ocpp_url, "CP-A", GOOD) == 101  # other addresses are not affected
        finally:
            await auth.stop()


async def test_slow_headers_time_out_and_are_counted(kafka: Any) -> None:
    """A gateway of its own: its 1 s handshake timeout would cut the storms above short on a loaded machine."""
    prefix = f"gwslow-{uuid.uuid4().hex[:6]}."
    async with running_gateway(kafka, prefix, handshake_timeout_s=1.0) as gateway:
        before = refused_total("handshake_timeout")
        port = gateway.internals.server.ports[0]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /ocpp/CP-OTHER HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
        await writer.drain()
        assert await reader.read() == b""  # the gateway hung up after handshake_timeout_s
        writer.close()
        assert refused_total("handshake_timeout") == before + 1


async def test_refusals_are_logged_once_each_at_a_bounded_rate(system: Any) -> None:
    gateway, _ = system
    refusals = gateway.internals.server._upgrade.refusals
    logged, suppressed = refusals.logged, refusals.suppressed
    started = time.monotonic()
    answers: list[int] = []
    for _ in range(10):  # waves of 20: 200 handshakes at once outlast the clients' wait on a loaded machine
        answers += await asyncio.gather(*(status_of(gateway.ocpp_url, "CP-NOBODY", None) for _ in range(20)))
    elapsed = time.monotonic() - started
    assert answers == [404] * 200
    assert (refusals.logged - logged) + (refusals.suppressed - suppressed) == 200  # each refusal once
    assert refusals.logged - logged <= REFUSAL_BURST + REFUSAL_LINES_PER_S * elapsed + 1  # the bucket's bound
    assert refusals.suppressed > suppressed  # most of the 200 were counted, not logged

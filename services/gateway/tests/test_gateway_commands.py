"""Commands to stations through two gateway instances on real Kafka: the holder executes, in order, one call
at a time per station; a station nobody holds is answered `offline` at once by exactly one instance."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from gateway_testing import FakeAuth, Operator, RunningGateway, charger, eventually, running_gateway
from prometheus_client import REGISTRY
from voltline_gateway.domain.presence import rendezvous

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(kafka: Any) -> AsyncIterator[tuple[RunningGateway, RunningGateway, Operator]]:
    prefix = f"gwc-{uuid.uuid4().hex[:6]}."
    async with (
        running_gateway(kafka, prefix, instance="gw-a") as a,
        running_gateway(kafka, prefix, instance="gw-b") as b,
    ):
        auth = FakeAuth(kafka, prefix)
        await auth.start()
        ops = Operator(auth)
        await ops.rpc.start()
        for sid in ("CP-A1", "CP-A2", "CP-B1", "CP-201", "CP-GONE"):
            await auth.register(sid)
        await eventually(lambda: b.internals.registry.get("CP-GONE") is not None)
        await eventually(lambda: a.internals.registry.get("CP-GONE") is not None)
        await eventually(lambda: {"gw-a", "gw-b"} <= a.internals.presence.live() & b.internals.presence.live())
        try:
            yield a, b, ops
        finally:
            await ops.rpc.stop()
            await auth.stop()


async def held(gateway: RunningGateway, other: RunningGateway, station_id: str) -> None:
    """Wait until the other instance has read the holder's presence record."""

    def seen() -> bool:
        record = other.internals.presence.record(station_id)
        return record is not None and record.connected and record.gateway_instance == gateway.internals.instance

    await eventually(seen)


async def test_the_holder_executes_and_replies(cluster: Any) -> None:
    a, b, ops = cluster
    async with charger(a.ocpp_url, "CP-A1") as cp:
        cp.answers["RemoteStartTransaction"] = {"status": "Accepted"}
        await held(a, b, "CP-A1")
        result = await ops.command("CP-A1", "RemoteStartTransaction", {"idTag": "CARD-1", "connectorId": 1})
        assert (result.outcome, result.payload, result.gateway_instance) == ("answered", {"status": "Accepted"}, "gw-a")
        assert result.ocpp_version == "ocpp1.6"
        assert cp.received == [("RemoteStartTransaction", {"idTag": "CARD-1", "connectorId": 1})]


async def test_calls_to_one_station_go_out_one_at_a_time_in_order(cluster: Any) -> None:
    a, b, ops = cluster
    async with charger(b.ocpp_url, "CP-B1") as cp:
        cp.answers["ChangeConfiguration"] = None  # answered by hand below
        await held(b, a, "CP-B1")
        pending = [
            asyncio.create_task(ops.command("CP-B1", "ChangeConfiguration", {"key": "K", "value": str(i)}))
            for i in range(4)
        ]
        for i in range(4):
            await eventually(lambda i=i: len(cp.frames) == i + 1)
            await asyncio.sleep(0.2)
            assert len(cp.frames) == i + 1, "a second call went out before the first was answered"
            assert cp.frames[i][3] == {"key": "K", "value": str(i)}
            await cp.answer(cp.frames[i], {"status": "Accepted"})
        results = await asyncio.gather(*pending)
        assert [r.outcome for r in results] == ["answered"] * 4
        assert {r.gateway_instance for r in results} == {"gw-b"}


async def test_a_silent_station_times_out_without_holding_up_others(cluster: Any) -> None:
    a, b, ops = cluster
    async with charger(a.ocpp_url, "CP-A1") as slow, charger(a.ocpp_url, "CP-A2") as fast:
        slow.answers["Reset"] = None
        fast.answers["Reset"] = {"status": "Accepted"}
        await held(a, b, "CP-A1")
        await held(a, b, "CP-A2")
        stuck = asyncio.create_task(ops.command("CP-A1", "Reset", {"type": "Soft"}, timeout_s=3))
        quick = await ops.command("CP-A2", "Reset", {"type": "Soft"})
        assert quick.outcome == "answered" and not stuck.done()
        timed_out = await stuck
        assert (timed_out.outcome, timed_out.gateway_instance) == ("timeout", "gw-a")


async def test_invalid_commands_and_call_errors(cluster: Any) -> None:
    a, b, ops = cluster
    async with charger(a.ocpp_url, "CP-A2") as cp:
        cp.answers["UnlockConnector"] = ("NotSupported", "no motor in this connector")
        await held(a, b, "CP-A2")
        bad = await ops.command("CP-A2", "RemoteStartTransaction", {"connectorId": 1})
        assert (bad.outcome, bad.error_code) == ("invalid", "OccurrenceConstraintViolation")
        assert "idTag" in (bad.error_description or "")
        wrong_version = await ops.command("CP-A2", "RequestStartTransaction", {}, ocpp_version="ocpp2.0.1")
        assert wrong_version.outcome == "invalid" and "ocpp1.6" in (wrong_version.error_description or "")
        not_a_command = await ops.command("CP-A2", "BootNotification", {})
        assert not_a_command.outcome == "invalid"
        error = await ops.command("CP-A2", "UnlockConnector", {"connectorId": 1})
        assert (error.outcome, error.error_code, error.error_description) == (
            "call_error",
            "NotSupported",
            "no motor in this connector",
        )
        assert cp.received == [("UnlockConnector", {"connectorId": 1})]  # nothing invalid reached the station


async def test_ocpp_2_commands(cluster: Any) -> None:
    a, b, ops = cluster
    async with charger(b.ocpp_url, "CP-201", "ocpp2.0.1") as cp:
        cp.answers["RequestStartTransaction"] = lambda p: {
            "status": "Accepted",
            "transactionId": f"T-{p['remoteStartId']}",
        }
        await held(b, a, "CP-201")
        payload = {"idToken": {"idToken": "04A2", "type": "ISO14443"}, "remoteStartId": 7, "evseId": 1}
        result = await ops.command("CP-201", "RequestStartTransaction", payload)
        assert (result.outcome, result.payload) == ("answered", {"status": "Accepted", "transactionId": "T-7"})


def late_replies() -> float:
    return sum(
        s.value
        for m in REGISTRY.collect()
        if m.name == "voltline_bus_late_replies"
        for s in m.samples
        if s.name.endswith("_total")
    )


async def test_offline_stations_are_answered_at_once_by_exactly_one_instance(cluster: Any) -> None:
    a, b, ops = cluster
    before = late_replies()
    never = await ops.command("CP-NEVER", "Reset", {"type": "Soft"})
    assert never.outcome == "offline" and never.gateway_instance == rendezvous("CP-NEVER", {"gw-a", "gw-b"})
    async with charger(a.ocpp_url, "CP-GONE"):
        await held(a, b, "CP-GONE")
    await eventually(lambda: b.internals.presence.record("CP-GONE").connected is False)
    gone = await ops.command("CP-GONE", "Reset", {"type": "Soft"})
    assert (gone.outcome, gone.gateway_instance) == ("offline", "gw-a")  # the last holder knows it has gone
    await asyncio.sleep(1.0)  # a second answer would arrive as a late reply by now
    assert late_replies() == before


async def test_connections_api_lists_the_whole_cluster(cluster: Any) -> None:
    a, b, _ = cluster
    async with charger(a.ocpp_url, "CP-A1"), charger(b.ocpp_url, "CP-B1", "ocpp2.1"):
        await held(a, b, "CP-A1")
        await held(b, a, "CP-B1")
        listed = (await b.api.get("/api/v1/connections")).json()["items"]
        where = {c["station_id"]: (c["gateway_instance"], c["ocpp_version"]) for c in listed}
        assert where["CP-A1"] == ("gw-a", "ocpp1.6") and where["CP-B1"] == ("gw-b", "ocpp2.1")
        mine = (await b.api.get("/api/v1/connections", params={"gateway_instance": "gw-b"})).json()["items"]
        assert [c["station_id"] for c in mine] == ["CP-B1"] and mine[0]["remote_address"] == "127.0.0.1"
        assert (await b.api.get("/api/v1/connections", headers={"Authorization": "Bearer nope"})).status_code == 401


async def test_commands_are_read_without_the_long_poll(cluster: Any) -> None:
    """tansu sleeps through part of a fetch's max wait even when records are there (bench/request_reply): the
    command tail asks for the gateway's tail wait (`tail_fetch_wait_ms`, 100 ms), not aiokafka's 500 ms."""
    a, _, _ = cluster
    tail = a.internals.command_tail
    assert tail is not None and tail._consumer is not None
    assert tail._consumer._fetch_max_wait_ms == a.settings.tail_fetch_wait_ms == 100

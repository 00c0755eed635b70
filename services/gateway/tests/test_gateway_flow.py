"""Flow control over real Kafka (ADR 0027): a consumer group that lags makes the gateway hold its answers to
MeterValues, never to Authorize; once the group has caught up, answers are immediate again."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from gateway_testing import FakeAuth, charger, eventually, running_gateway
from voltline_events.topics import declared
from voltline_gateway.metrics import FLOW_HELD
from voltline_gateway.service_layer.flow import FlowGate

pytestmark = pytest.mark.asyncio

BOOT_16 = {"chargePointVendor": "ACME", "chargePointModel": "Volt-22"}
METER = {"connectorId": 1, "meterValue": [{"timestamp": "2024-05-01T08:00:00Z", "sampledValue": [{"value": "10"}]}]}
HOLD = 2.0


def held(action: str) -> float:
    return FLOW_HELD.labels(action=action)._value.get()


async def commit(group: AIOKafkaConsumer, topic: str, at: str) -> None:
    """The group's committed offsets on every partition: the log start ("start") or the log end ("end")."""
    config = declared(topic)
    assert config is not None
    tps = [TopicPartition(topic, p) for p in range(config.partitions)]
    if not group.assignment():
        group.assign(tps)
    offsets = await (group.beginning_offsets(tps) if at == "start" else group.end_offsets(tps))
    await group.commit(dict(offsets))


async def test_a_lagging_group_holds_meter_values_but_not_authorize_and_its_catching_up_releases(kafka: Any) -> None:
    prefix = f"gwf-{uuid.uuid4().hex[:6]}."
    flow = {
        "flow_control": True,
        "flow_lag_high": 5,
        "flow_lag_low": 2,
        "flow_max_hold_s": HOLD,
        "flow_poll_interval_s": 0.2,
        "flow_stall_s": 120.0,
    }
    async with running_gateway(kafka, prefix, **flow) as gateway:
        auth = FakeAuth(kafka, prefix)
        await auth.start()
        topic = auth.topics.station_events
        # A consumer group of this installation that reads station events and stays behind (a slow service).
        group = AIOKafkaConsumer(
            bootstrap_servers=kafka.bootstrap_servers, group_id=f"{prefix}voltline-slow", enable_auto_commit=False
        )
        await group.start()
        try:
            await auth.register("CP-F1")
            auth.tokens["CARD-F1"] = "Accepted"
            await eventually(lambda: gateway.internals.registry.get("CP-F1") is not None)
            await commit(group, topic, "start")
            watch = gateway.internals.lag_watch
            assert watch is not None
            async with charger(gateway.ocpp_url, "CP-F1") as cp:
                assert (await cp.call("BootNotification", BOOT_16))[2]["status"] == "Accepted"
                for _ in range(8):  # events the group has not read: its lag passes the bound
                    await cp.call("Heartbeat", {}, timeout=3 * HOLD)
                await eventually(lambda: watch.lag is not None and watch.lag > 5, within=30)
                await eventually(lambda: gateway_hold(gateway) == HOLD, within=30)

                meter_before, authorize_before = held("MeterValues"), held("Authorize")
                sent = time.monotonic()
                assert (await cp.call("MeterValues", METER, timeout=3 * HOLD))[0] == 3
                assert time.monotonic() - sent >= HOLD * 0.95
                assert held("MeterValues") == meter_before + 1
                answer = await cp.call("Authorize", {"idTag": "CARD-F1"})
                assert answer[2]["idTagInfo"]["status"] == "Accepted"
                assert held("Authorize") == authorize_before  # asked and answered, never held

                await commit(group, topic, "end")  # the group caught up
                await eventually(lambda: gateway_hold(gateway) == 0, within=30)
                meter_before = held("MeterValues")
                assert (await cp.call("MeterValues", METER))[0] == 3
                assert held("MeterValues") == meter_before  # answered at once
        finally:
            await group.stop()
            await auth.stop()


def gateway_hold(gateway: Any) -> float:
    flow = gateway.internals.server._dispatcher._flow
    assert isinstance(flow, FlowGate)
    return flow.hold_for("MeterValues", {})

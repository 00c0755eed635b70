"""The station lifecycle topic (ADR 0037): the gateway copies connects, boots, disconnects and Authorize answers
there, the same bytes as on the station stream, in the station's order; nothing else; spooled like the stream."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from gateway_testing import EventLog, FakeAuth, charger, eventually, running_gateway
from voltline_events import Envelope, Topics
from voltline_events.topics import LIFECYCLE_EVENT_TYPES
from voltline_gateway.adapters.spool import Spool

BOOT_16 = {"chargePointVendor": "ACME", "chargePointModel": "Volt-22"}


async def test_the_rare_events_are_copied_to_the_lifecycle_topic_in_order_and_spooled(
    kafka: Any, tmp_path: Path
) -> None:
    prefix = f"gwlc-{uuid.uuid4().hex[:6]}."
    topics = Topics(prefix)
    stream, lifecycle = EventLog(kafka, prefix), EventLog(kafka, prefix, topics.station_lifecycle)
    async with running_gateway(kafka, prefix, spool_dir=tmp_path / "spool") as gateway:
        auth = FakeAuth(kafka, prefix)
        await auth.start()
        await stream.start()
        await lifecycle.start()
        try:
            await auth.register("CP-LC")
            auth.tokens["CARD-LC"] = "Accepted"
            await eventually(lambda: gateway.internals.registry.get("CP-LC") is not None)
            async with charger(gateway.ocpp_url, "CP-LC") as cp:
                assert (await cp.call("BootNotification", BOOT_16))[2]["status"] == "Accepted"
                for _ in range(3):
                    await cp.call("Heartbeat", {})
                assert (await cp.call("Authorize", {"idTag": "CARD-LC"}))[2]["idTagInfo"]["status"] == "Accepted"
                await cp.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"})
            await stream.wait("CP-LC", "station.disconnected")
            await lifecycle.wait("CP-LC", "station.disconnected")
        finally:
            await lifecycle.stop()
            await stream.stop()
            await auth.stop()

    expected = [e for e in stream.of("CP-LC") if e.type in LIFECYCLE_EVENT_TYPES]
    assert [e.type for e in expected] == [
        "station.connected",
        "station.boot_notification",
        "station.authorize_answered",
        "station.disconnected",
    ]
    copied = lifecycle.of("CP-LC")
    assert [(e.event_id, e.type) for e in copied] == [(e.event_id, e.type) for e in expected]
    assert copied == expected  # the same envelope, not a look-alike

    # The spool (make run's gateway) keeps both copies: a broker that restarts empty gets both again.
    spool = Spool(tmp_path / "spool")
    records = list(spool.records(sorted((tmp_path / "spool").glob("segment-*.log"))))
    spooled = [Envelope.from_bytes(value) for topic, _k, value, *_ in records if topic == topics.station_lifecycle]
    assert [e.event_id for e in spooled if e.station_id == "CP-LC"] == [e.event_id for e in expected]

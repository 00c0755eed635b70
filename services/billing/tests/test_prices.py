"""Price transparency in billing: the public estimate equals the CDR of the session it planned, and tariffs
and assignments are a table on the compacted tariffs topic (written with each change, republished at start)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from billing_testing import RunningBilling, ended, eventually, started
from voltline_billing.service_layer.tariff_feed import republish_tariffs

pytestmark = pytest.mark.asyncio(loop_scope="module")
STD = {"tariff_id": "EST-1", "currency": "EUR", "energy_price_per_kwh": "0.35", "time_price_per_hour": "1.20",
       "session_fee": "1.00", "vat_percent": "19"}  # fmt: skip


async def test_estimate_is_public_and_equals_the_cdr(billing: RunningBilling) -> None:
    await billing.post("/tariffs", STD, expect=201)
    await billing.put("/stations/CP-EST/tariff", {"tariff_id": "EST-1"})
    start = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    query = {"station_id": "CP-EST", "evse_id": 1, "energy_kwh": "22.5", "duration_min": 75,
             "starts_at": start.isoformat()}  # fmt: skip
    answer = await billing.api.get("/api/v1/price-estimate", params=query)  # no token: public
    assert answer.status_code == 200, answer.text
    estimate = answer.json()
    # docs/billing.md's worked example: 7.88 + 1.50 + 1.00 = 10.38 excl. VAT, 1.97 VAT
    assert (estimate["total_excl_vat"], estimate["total_vat"], estimate["total_incl_vat"]) == ("10.38", "1.97", "12.35")
    assert estimate["price_text"] == "0.42 EUR/kWh + 1.43 EUR/h + 1.19 EUR per session (incl. 19% VAT)"
    await billing.publish(started("S-EST", "CP-EST", start))
    await billing.publish(ended("S-EST", "CP-EST", start, start + timedelta(minutes=75), 22_500))
    cdr = await billing.cdr("S-EST")
    assert cdr["total_incl_vat"] == estimate["total_incl_vat"] and cdr["total_vat"] == estimate["total_vat"]


async def test_estimate_refuses_bad_input_naming_the_field(billing: RunningBilling) -> None:
    bad = await billing.api.get("/api/v1/price-estimate", params={"station_id": "CP-EST", "energy_kwh": "-1",
                                                                  "duration_min": 10})  # fmt: skip
    assert bad.status_code == 422 and "energy_kwh" in bad.text
    unknown = await billing.api.get("/api/v1/price-estimate", params={"station_id": "NOWHERE", "energy_kwh": "1",
                                                                      "duration_min": 10})  # fmt: skip
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("application/problem+json")


async def _table(billing: RunningBilling) -> dict[str, list[dict[str, Any]]]:
    """The whole topic up to its end when called (the partition is assigned explicitly: a subscription may have
    no assignment yet right after start, and an empty end would stop the read after its first record)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=billing.settings.kafka_bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        consumer.assign([TopicPartition(billing.topics.tariffs, 0)])  # one partition (topics.DECLARED)
        ends = await consumer.end_offsets(list(consumer.assignment()))
        for _ in range(60):
            for records in (await consumer.getmany(timeout_ms=300)).values():
                for r in records:
                    found.setdefault(r.key.decode(), []).append(json.loads(r.value))
            positions = {tp: await consumer.position(tp) for tp in consumer.assignment()}
            if positions and all(positions[tp] >= ends.get(tp, 0) for tp in positions) and found:
                break
    finally:
        await consumer.stop()
    return found


async def test_tariffs_topic_is_a_table_and_republished(billing: RunningBilling) -> None:
    await billing.post("/tariffs", {**STD, "tariff_id": "TAB-1"}, expect=201)
    await billing.put("/tariffs/TAB-1", {**STD, "tariff_id": "TAB-1", "energy_price_per_kwh": "0.40"})
    await billing.put("/stations/CP-TAB/tariff", {"tariff_id": "TAB-1"})
    keys = {"tariff:TAB-1:1", "tariff:TAB-1:2", "assignment:station:CP-TAB"}
    # The outbox relay publishes at its own pace: wait until the three records are on the topic.
    table = await eventually(lambda: _table(billing), ok=lambda t: keys <= set(t))
    assert [r["payload"]["energy_price_per_kwh"] for r in table["tariff:TAB-1:1"]] == ["0.35"]
    assert [r["payload"]["version"] for r in table["tariff:TAB-1:2"]] == [2]
    assert table["assignment:station:CP-TAB"][-1]["payload"]["tariff_id"] == "TAB-1"
    before = {k: len(v) for k, v in table.items()}
    ctx = billing.api._transport.app.state.billing  # type: ignore[attr-defined]
    assert await republish_tariffs(ctx) >= 3
    await billing.api.get("/readyz")  # the relay sends at its own pace: wait for the records below

    async def republished() -> dict[str, list[dict[str, Any]]]:
        return await _table(billing)

    again = await eventually(republished, ok=lambda t: len(t.get("tariff:TAB-1:2", [])) > before["tariff:TAB-1:2"])
    assert again["assignment:station:CP-TAB"][-1]["payload"]["scope"] == "station"

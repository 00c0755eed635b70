"""A card session end to end through billing over real Kafka and PostgreSQL: hold at start, the exact CDR,
one capture even when session.ended arrives twice, running cost, exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer
from billing_testing import ADMIN, RunningBilling, ended, eventually, started, updated

pytestmark = pytest.mark.asyncio(loop_scope="module")
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
STANDARD = {
    "tariff_id": "STD",
    "currency": "EUR",
    "energy_price_per_kwh": "0.35",
    "time_price_per_hour": "1.20",
    "session_fee": "1.00",
    "vat_percent": "19",
    "default": True,
}


async def test_card_session_gets_the_exact_cdr_and_is_captured_once(billing: RunningBilling) -> None:
    await billing.post("/tariffs", STANDARD, expect=201)
    await billing.post("/drivers/D-CARD/payment-methods", {"type": "card", "token": "tok_visa"}, expect=201)

    await billing.publish(started("S-CARD", "CP-1", T0, driver_id="D-CARD"))
    held = await billing.payment("S-CARD", state="authorized")
    assert (held["hold_amount"], held["held"], held["provider"]) == ("50.00", "50.00", "sandbox")

    end = ended("S-CARD", "CP-1", T0, T0 + timedelta(minutes=75), 22_500, driver_id="D-CARD")
    await billing.publish(end)
    await billing.publish(end)  # at-least-once delivery: the very same event again
    again = ended("S-CARD", "CP-1", T0, T0 + timedelta(minutes=75), 22_500, driver_id="D-CARD")
    await billing.publish(again)  # and a second publication with a new event id

    cdr = await billing.cdr("S-CARD")
    # 22.5 kWh x 0.35 = 7.875 -> 7.88; 4500 s x 1.20/h = 1.50; fee 1.00; VAT 19% of 10.38 = 1.9722 -> 1.97
    expected = {
        "currency": "EUR",
        "energy_kwh": "22.500",
        "duration_s": 4500,
        "total_excl_vat": "10.38",
        "total_vat": "1.97",
        "total_incl_vat": "12.35",
    }
    assert {k: cdr[k] for k in expected} == expected
    assert [(x["dimension"], x["quantity"], x["unit_price"], x["amount"]) for x in cdr["lines"]] == [
        ("ENERGY", "22.500", "0.35", "7.88"),
        ("TIME", "4500", "1.20", "1.50"),
        ("FLAT", "1", "1.00", "1.00"),
    ]
    assert cdr["tariff_id"] == "STD" and cdr["tariff_version"] == 1 and cdr["cdr_id"].startswith("cdr_")

    paid = await billing.payment("S-CARD", state="paid")
    assert (paid["captured"], paid["held"], paid["due"]) == ("12.35", "0.00", "12.35")
    await billing.publish(started("S-CARD", "CP-1", T0, driver_id="D-CARD"))  # a replayed start: no new hold
    # Let every duplicate be consumed, then count what reached the provider.
    await billing.publish(ended("S-CARD-SENTINEL", "CP-1", T0, T0 + timedelta(minutes=1), 10))
    await billing.cdr("S-CARD-SENTINEL")
    assert len((await billing.get("/cdrs", session_id="S-CARD"))["items"]) == 1
    ops = [(op["kind"], op["amount"]) for op in billing.sandbox.operations if op["key"].startswith("S-CARD:")]
    assert ops == [("authorize", "50.00"), ("capture", "12.35")]
    sandbox = await billing.get("/sandbox/operations")
    intent = sandbox["intents"][paid["provider_ref"]]
    assert (intent["authorized"], intent["captured"], intent["status"]) == ("50.00", "12.35", "succeeded")


async def test_running_cost_while_charging(billing: RunningBilling) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    await billing.publish(started("S-LIVE", "CP-2", now - timedelta(minutes=30)))
    await billing.publish(updated("S-LIVE", "CP-2", now - timedelta(minutes=1), 5_000))

    def seen(body: dict) -> bool:  # type: ignore[type-arg]
        return body.get("energy_kwh") == "5.000"

    async def fetch() -> dict:  # type: ignore[type-arg]
        return (await billing.api.get("/api/v1/sessions/S-LIVE/cost", headers=ADMIN)).json()  # 404 until consumed

    cost = await eventually(fetch, ok=seen)
    assert cost["status"] == "active" and cost["priced"] and cost["currency"] == "EUR"
    assert cost["lines"][0]["amount"] == "1.75"  # 5 kWh x 0.35
    assert cost["duration_s"] >= 1800
    missing = await billing.api.get("/api/v1/sessions/NOPE/cost", headers=ADMIN)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")


async def test_time_of_day_tariff_splits_at_the_boundary(billing: RunningBilling) -> None:
    tod = {
        "tariff_id": "TOD",
        "currency": "EUR",
        "time_zone": "Europe/Berlin",
        "elements": [
            {"price_components": [{"type": "ENERGY", "price": "0.50", "vat": "19"}],
             "restrictions": {"start_time": "07:00", "end_time": "22:00"}},
            {"price_components": [{"type": "ENERGY", "price": "0.25", "vat": "19"}]},
        ],
    }  # fmt: skip
    await billing.post("/tariffs", tod, expect=201)
    await billing.put("/stations/CP-TOD/tariff", {"tariff_id": "TOD"})
    start = datetime(2026, 11, 20, 20, 30, tzinfo=UTC)  # 21:30 in Berlin; off-peak from 21:00 UTC
    timeline = [{"at": (start + timedelta(minutes=30)).isoformat(), "energy_wh": 6_000}]
    end = ended("S-TOD", "CP-TOD", start, start + timedelta(hours=1), 10_000, energy_timeline=timeline)
    await billing.publish(end)
    cdr = await billing.cdr("S-TOD")
    assert [(x["start"], x["end"], x["quantity"], x["amount"]) for x in cdr["lines"]] == [
        ("2026-11-20T20:30:00Z", "2026-11-20T21:00:00Z", "6.000", "3.00"),
        ("2026-11-20T21:00:00Z", "2026-11-20T21:30:00Z", "4.000", "1.00"),
    ]
    assert (cdr["total_excl_vat"], cdr["total_vat"], cdr["total_incl_vat"]) == ("4.00", "0.76", "4.76")
    assert cdr["payment_state"] == "unassigned"  # no driver: priced, visible to operators


async def test_idle_fee_comes_from_the_idle_periods(billing: RunningBilling) -> None:
    idle = {"tariff_id": "IDLE", "currency": "EUR", "energy_price_per_kwh": "0.30", "idle_price_per_hour": "9.00"}
    await billing.post("/tariffs", idle, expect=201)
    await billing.put("/stations/CP-IDLE/tariff", {"tariff_id": "IDLE"})
    start = T0
    periods = [
        {"state": "charging", "start": start.isoformat(), "end": (start + timedelta(minutes=50)).isoformat(),
         "energy_wh": 10_000},
        {"state": "idle", "start": (start + timedelta(minutes=50)).isoformat(),
         "end": (start + timedelta(minutes=70)).isoformat()},
    ]  # fmt: skip
    await billing.publish(ended("S-IDLE", "CP-IDLE", start, start + timedelta(minutes=70), 10_000, periods=periods))
    cdr = await billing.cdr("S-IDLE")
    assert [(x["dimension"], x["quantity"], x["amount"]) for x in cdr["lines"]] == [
        ("ENERGY", "10.000", "3.00"),
        ("PARKING_TIME", "1200", "3.00"),  # 20 idle minutes x 9.00/h
    ]
    assert (cdr["charging_s"], cdr["idle_s"]) == (3000, 1200)


async def test_exports_ocpi_cdr_and_csv(billing: RunningBilling) -> None:
    cdr = await billing.cdr("S-CARD")
    ocpi = await billing.get(f"/cdrs/{cdr['cdr_id']}/ocpi")
    assert ocpi["total_cost"] == {"excl_vat": 10.38, "incl_vat": 12.35}
    assert ocpi["total_energy"] == 22.5 and ocpi["tariffs"][0]["id"] == "STD"
    assert ocpi["charging_periods"][0]["dimensions"] == [{"type": "ENERGY", "volume": 22.5},
                                                         {"type": "TIME", "volume": 1.25}]  # fmt: skip
    response = await billing.api.get(
        "/api/v1/cdrs/export.csv",
        params={"from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z"},
        headers=ADMIN,
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    by_session = {row["session_id"]: row for row in rows}
    assert by_session["S-CARD"]["total_incl_vat"] == "12.35"
    assert by_session["S-CARD"]["payment_state"] == "paid"
    assert "S-LIVE" not in by_session
    bad = await billing.api.get("/api/v1/cdrs/export.csv", params={"from": "2026-11-20T00:00:00Z"}, headers=ADMIN)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.to"


async def test_each_cdr_is_announced_once_on_the_billing_topic(billing: RunningBilling) -> None:
    end = ended("S-ANNOUNCE", "CP-9", T0, T0 + timedelta(minutes=30), 5_000)
    await billing.publish(end)
    await billing.publish(end)
    cdr = await billing.cdr("S-ANNOUNCE")
    consumer = AIOKafkaConsumer(
        billing.topics.billing,
        bootstrap_servers=billing.settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        announced: list[dict] = []  # type: ignore[type-arg]
        for _ in range(20):
            for records in (await consumer.getmany(timeout_ms=300)).values():
                announced += [json.loads(r.value) for r in records if r.key == b"CP-9"]
    finally:
        await consumer.stop()
    [event] = [e for e in announced if e["session_id"] == "S-ANNOUNCE"]
    assert event["type"] == "billing.cdr_created"
    assert event["payload"]["cdr_id"] == cdr["cdr_id"]
    assert event["payload"]["total_incl_vat"] == cdr["total_incl_vat"]

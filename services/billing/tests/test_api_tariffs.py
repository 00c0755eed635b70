"""Tariffs over the API: both forms, validation naming the field, versions, assignments and resolution."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from billing_testing import ADMIN, RunningBilling, ended

pytestmark = pytest.mark.asyncio(loop_scope="module")
OCPI = {
    "tariff_id": "OCPI-1",
    "currency": "EUR",
    "time_zone": "Europe/Amsterdam",
    "elements": [
        {
            "price_components": [
                {"type": "ENERGY", "price": "0.45", "vat": "21", "step_size": 1},
                {"type": "PARKING_TIME", "price": "6.00", "vat": "21", "step_size": 300},
            ],
            "restrictions": {
                "day_of_week": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"],
                "start_time": "08:00",
                "end_time": "20:00",
            },
        },
        {"price_components": [{"type": "ENERGY", "price": "0.30", "vat": "21"}]},
        {"price_components": [{"type": "FLAT", "price": "0.50", "vat": "21"}], "restrictions": {"min_kwh": "1"}},
    ],
    "min_price": {"excl_vat": "1.00"},
}


async def test_both_forms_and_ocpi_export(billing: RunningBilling) -> None:
    created = await billing.api.post("/api/v1/tariffs", json=OCPI, headers=ADMIN)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/api/v1/tariffs/OCPI-1"
    body = created.json()
    assert body["version"] == 1 and body["elements"][0]["price_components"][1]["step_size"] == 300
    ocpi = await billing.get("/tariffs/OCPI-1/ocpi")
    assert ocpi["id"] == "OCPI-1" and ocpi["party_id"] == "VLT" and ocpi["type"] == "REGULAR"
    assert ocpi["elements"][0]["price_components"][0] == {"type": "ENERGY", "price": 0.45, "vat": 21, "step_size": 1}
    assert ocpi["elements"][2]["restrictions"] == {"min_kwh": 1}
    simple = {"tariff_id": "SIMPLE", "currency": "SEK", "energy_price_per_kwh": "3.5", "session_fee": "5"}
    components = (await billing.post("/tariffs", simple, expect=201))["elements"][0]["price_components"]
    assert components[1]["type"] == "FLAT"
    listed = await billing.get("/tariffs")
    assert {t["tariff_id"] for t in listed["items"]} >= {"OCPI-1", "SIMPLE"}
    # the paging convention of every list: next_offset until the last page, then null
    seen, offset = [], 0
    while offset is not None:
        page = await billing.get("/tariffs", limit=1, offset=offset)
        assert len(page["items"]) == 1
        seen += [t["tariff_id"] for t in page["items"]]
        offset = page["next_offset"]
    assert seen == [t["tariff_id"] for t in listed["items"]] and listed["next_offset"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tariff_id": "X", "currency": "euro", "energy_price_per_kwh": "1"}, "body.currency"),
        ({"tariff_id": "X", "currency": "EUR", "energy_price_per_kwh": "-1"}, "body.energy_price_per_kwh"),
        ({"tariff_id": "X", "currency": "EUR", "energy_price_per_kwh": "1", "vat_percent": "120"}, "body.vat_percent"),
        ({"tariff_id": "X", "currency": "EUR", "energy_price_per_kwh": "1", "time_zone": "Mars/A"}, "body.time_zone"),
        ({"tariff_id": "has space", "currency": "EUR", "energy_price_per_kwh": "1"}, "body.tariff_id"),
        ({"tariff_id": "X", "currency": "EUR"}, "body.energy_price_per_kwh"),  # the field, not `body`
        ({"tariff_id": "X", "currency": "EUR", "elements": [{"price_components": [{"type": "KWH", "price": 1}]}]},
         "body.elements.0.price_components.0.type"),
        ({"tariff_id": "X", "currency": "EUR", "elements": [{"price_components": [{"type": "TIME", "price": 1}],
                                                             "restrictions": {"start_time": "25:00"}}]},
         "body.elements.0.restrictions.start_time"),
    ],
)  # fmt: skip
async def test_invalid_tariffs_are_422_naming_the_field(billing: RunningBilling, body: dict, field: str) -> None:  # type: ignore[type-arg]
    response = await billing.api.post("/api/v1/tariffs", json=body, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_versions_and_the_version_valid_when_the_session_started(billing: RunningBilling) -> None:
    v1 = {"tariff_id": "VER", "currency": "EUR", "energy_price_per_kwh": "0.30"}
    await billing.post("/tariffs", v1, expect=201)
    duplicate = await billing.api.post("/api/v1/tariffs", json=v1, headers=ADMIN)
    assert duplicate.status_code == 409 and "PUT /api/v1/tariffs/VER" in duplicate.json()["detail"]
    await billing.put("/stations/CP-VER/tariff", {"tariff_id": "VER"})
    switch = datetime(2026, 12, 1, tzinfo=UTC)
    v2 = await billing.put("/tariffs/VER", {**v1, "energy_price_per_kwh": "0.40", "valid_from": switch.isoformat()})
    assert (v2["version"], v2["valid_from"]) == (2, "2026-12-01T00:00:00Z")
    versions = await billing.get("/tariffs/VER/versions")
    assert [v["version"] for v in versions["items"]] == [1, 2]
    before = await billing.get("/stations/CP-VER/tariff", at="2026-11-30T23:00:00Z")
    after = await billing.get("/stations/CP-VER/tariff", at="2026-12-01T00:00:00Z")
    assert (before["version"], after["version"]) == (1, 2)

    # A session that started before the switch is priced with version 1 even though it ends after it.
    start = switch - timedelta(hours=1)
    await billing.publish(ended("S-VER", "CP-VER", start, switch + timedelta(hours=1), 10_000))
    cdr = await billing.cdr("S-VER")
    assert (cdr["tariff_version"], cdr["total_excl_vat"]) == (1, "3.00")
    late = switch + timedelta(days=1)
    await billing.publish(ended("S-VER2", "CP-VER", late, late + timedelta(hours=1), 10_000))
    assert (await billing.cdr("S-VER2"))["total_excl_vat"] == "4.00"


async def test_station_group_and_default_resolution(billing: RunningBilling) -> None:
    """Its own tariffs, so that it passes alone and on any xdist worker (not after the test that makes SIMPLE)."""
    await billing.post("/tariffs", {"tariff_id": "GRP", "currency": "EUR", "energy_price_per_kwh": "0.20"}, expect=201)
    await billing.post("/tariffs", {"tariff_id": "FALLBACK", "currency": "SEK", "energy_price_per_kwh": "3.0"},
                       expect=201)  # fmt: skip
    await billing.post("/tariffs", {"tariff_id": "OWN", "currency": "EUR", "energy_price_per_kwh": "0.30"}, expect=201)
    group = await billing.put("/station-groups/north", {"tariff_id": "GRP", "station_ids": ["CP-N1", "CP-N2"]})
    assert group["station_ids"] == ["CP-N1", "CP-N2"]
    assert (await billing.get("/stations/CP-N1/tariff"))["source"] == "group"
    nothing = await billing.api.get("/api/v1/stations/CP-ELSEWHERE/tariff", headers=ADMIN)
    assert nothing.status_code == 404 and "set a default" in nothing.json()["detail"]
    await billing.put("/tariffs/FALLBACK", {"tariff_id": "FALLBACK", "currency": "SEK", "energy_price_per_kwh": "3.5",
                                            "default": True})  # fmt: skip
    fallback = await billing.get("/stations/CP-ELSEWHERE/tariff")
    assert (fallback["source"], fallback["tariff_id"]) == ("default", "FALLBACK")
    await billing.put("/stations/CP-N2/tariff", {"tariff_id": "OWN"})
    assert (await billing.get("/stations/CP-N2/tariff"))["source"] == "station"
    unknown = await billing.api.put("/api/v1/stations/CP-N2/tariff", json={"tariff_id": "NOPE"}, headers=ADMIN)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "body.tariff_id"


async def test_a_session_without_any_tariff_still_gets_a_cdr(kafka, postgres) -> None:  # type: ignore[no-untyped-def]
    from billing_testing import running_billing

    async with running_billing(kafka, postgres) as fresh:
        start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
        await fresh.publish(ended("S-NONE", "CP-X", start, start + timedelta(minutes=30), 4_000))
        cdr = await fresh.cdr("S-NONE")
        assert (cdr["tariff_id"], cdr["total_incl_vat"], cdr["lines"], cdr["energy_kwh"]) == (None, "0.00", [], "4.000")


async def test_tokens_and_roles(billing: RunningBilling) -> None:
    assert (await billing.api.get("/api/v1/tariffs")).status_code == 401
    assert (await billing.api.get("/api/v1/cdrs", headers={"Authorization": "Bearer nope"})).status_code == 401
    assert (await billing.api.get("/healthz")).status_code == 200
    assert (await billing.api.get("/readyz")).status_code == 200


async def test_tariffs_and_assignments_are_announced_for_price_feeds(billing: RunningBilling) -> None:
    """billing.tariff_changed carries the ad-hoc prices (unrestricted components) and billing.tariff_assigned who
    pays them, so analytics' AFIR feed can show each EVSE's price."""
    afir = {"tariff_id": "AFIR-1", "currency": "EUR", "energy_price_per_kwh": "0.39", "session_fee": "1.00",
            "vat_percent": "21"}  # fmt: skip
    await billing.post("/tariffs", afir, expect=201)
    await billing.put("/stations/CP-AFIR/tariff", {"tariff_id": "AFIR-1"})
    consumer = AIOKafkaConsumer(billing.topics.billing, bootstrap_servers=billing.settings.kafka_bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    changed: list[dict[str, Any]] = []
    assigned: list[dict[str, Any]] = []
    try:
        for _ in range(100):  # until both are seen, 30 s at most
            if changed and assigned:
                break
            for records in (await consumer.getmany(timeout_ms=300)).values():
                for e in (json.loads(r.value) for r in records):
                    if e["type"] == "billing.tariff_changed" and e["payload"]["tariff_id"] == "AFIR-1":
                        changed.append(e["payload"])
                    if e["type"] == "billing.tariff_assigned" and e["payload"]["scope_id"] == "CP-AFIR":
                        assigned.append(e["payload"])
    finally:
        await consumer.stop()
    assert [(c["version"], c["currency"], c["energy_price_per_kwh"], c["session_fee"], c["vat_percent"])
            for c in changed] == [(1, "EUR", "0.39", "1.00", "21")]  # fmt: skip
    assert [(a["scope"], a["tariff_id"]) for a in assigned] == [("station", "AFIR-1")]

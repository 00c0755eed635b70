"""Locations over the API with the real store and Kafka: operators create sites, anyone searches by position
with live status (from the stations' own StatusNotifications) and the price billing's tariffs topic says."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from diagnostics_testing import ADMIN, RunningDiagnostics, eventually
from voltline_events import envelope_for
from voltline_events.payloads import TariffAssigned, TariffChanged

pytestmark = pytest.mark.asyncio(loop_scope="module")
BERLIN = (52.520008, 13.404954)
T2_22 = {"connector_id": 1, "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE",
         "max_power_kw": "22"}  # fmt: skip


def site(location_id: str, lat: float, lon: float, stations: list[Any]) -> dict[str, Any]:
    return {"location_id": location_id, "name": f"Site {location_id}", "address": "Alexanderplatz 1", "city": "Berlin",
            "country": "DEU", "coordinates": {"latitude": str(lat), "longitude": str(lon)},
            "time_zone": "Europe/Berlin", "facilities": ["CAFE"], "opening_times": {"twentyfourseven": True},
            "stations": stations}  # fmt: skip


async def _tariffs(service: RunningDiagnostics) -> None:
    """What billing publishes on its compacted tariffs topic (billing's own test checks that it does)."""
    elements = [{"price_components": [{"type": "ENERGY", "price": "0.35", "vat": "19"}]}]
    changed = TariffChanged(tariff_id="LOC-STD", version=1, currency="EUR", energy_price_per_kwh=Decimal("0.35"),
                            session_fee=Decimal("1.00"), vat_percent=Decimal("19"), elements=elements)  # fmt: skip
    assigned = TariffAssigned(scope="default", tariff_id="LOC-STD", assigned_at=datetime.now(UTC))
    for event, key in ((changed, b"tariff:LOC-STD:1"), (assigned, b"assignment:default:")):
        await service.producer.publish(service.topics.tariffs, envelope_for(event, source="billing/test"), key=key)


async def test_operators_create_and_anyone_finds_with_status_and_price(service: RunningDiagnostics) -> None:
    await _tariffs(service)
    free, busy = service.station("CP-LOC-1"), service.station("CP-LOC-2")
    for sim, status in ((free, "Available"), (busy, "Charging")):
        await sim.connect()
        await sim.status(0, status)
    await eventually(lambda: service.status("CP-LOC-2"), ok=lambda s: s and s["connectors"])
    near = site("L-NEAR", *BERLIN, [{"station_id": "CP-LOC-1", "evses": [{"evse_id": 1, "connectors": [T2_22]}]}])
    created = await service.api.post("/api/v1/locations", json=near, headers=ADMIN)
    assert created.status_code == 201, created.text
    two_km = site("L-2KM", BERLIN[0] + 0.018, BERLIN[1], ["CP-LOC-2"])  # EVSEs from the station's status
    far = site("L-FAR", 53.55, 9.99, [])  # Hamburg
    for body in (two_km, far):
        assert (await service.api.post("/api/v1/locations", json=body, headers=ADMIN)).status_code == 201

    async def search(**params: Any) -> dict[str, Any]:
        answer = await service.api.get("/api/v1/locations", params={"lat": BERLIN[0], "lon": BERLIN[1], **params})
        assert answer.status_code == 200, answer.text  # no token: public
        return answer.json()  # type: ignore[no-any-return]

    found = await eventually(lambda: search(radius_km=10), ok=lambda b: b["items"][0]["stations"][0]["price"])
    assert [i["location_id"] for i in found["items"]] == ["L-NEAR", "L-2KM"]
    assert found["items"][0]["distance_km"] == 0 and 1.9 < found["items"][1]["distance_km"] < 2.1
    station = found["items"][0]["stations"][0]
    assert station["online"] and station["evses"][0]["status"] == "Available"
    assert (
        station["evses"][0]["ocpi_status"] == "AVAILABLE"
        and station["evses"][0]["connectors"][0]["standard"] == "IEC_62196_T2"
    )
    assert station["price"]["text"] == "0.42 EUR/kWh + 1.19 EUR per session (incl. 19% VAT)"
    filled = found["items"][1]["stations"][0]["evses"]
    assert [(e["evse_id"], e["status"], e["connectors"][0]["standard"]) for e in filled] == [(1, "Occupied", None)]
    assert [i["location_id"] for i in (await search(available="true"))["items"]] == ["L-NEAR"]
    assert (await search(connector_type="IEC_62196_T2", min_power_kw="50"))["items"] == []
    assert [i["location_id"] for i in (await search(min_power_kw="11"))["items"]] == ["L-NEAR"]
    assert len((await search(radius_km=200))["items"]) == 2  # Hamburg is 255 km away
    assert (await search(radius_km=260))["items"][-1]["location_id"] == "L-FAR"
    paged = await search(radius_km=10, limit=1)
    assert [i["location_id"] for i in paged["items"]] == ["L-NEAR"] and paged["next_offset"] == 1
    everywhere = await service.api.get("/api/v1/locations")  # no position: the whole network, by id
    assert everywhere.status_code == 200, everywhere.text
    assert [i["location_id"] for i in everywhere.json()["items"]] == ["L-2KM", "L-FAR", "L-NEAR"]
    assert "distance_km" not in everywhere.json()["items"][0]


async def test_changes_and_bad_input(service: RunningDiagnostics) -> None:
    body = site("L-EDIT", 48.1, 11.5, ["CP-LOC-9"])
    assert (await service.api.post("/api/v1/locations", json=body)).status_code == 401
    assert (await service.api.post("/api/v1/locations", json=body, headers=ADMIN)).status_code == 201
    again = await service.api.post("/api/v1/locations", json=body, headers=ADMIN)
    assert again.status_code == 409
    taken = await service.api.post("/api/v1/locations", json={**body, "location_id": "L-OTHER"}, headers=ADMIN)
    assert taken.status_code == 409 and taken.json()["station_id"] == "CP-LOC-9"
    pole = {**body, "coordinates": {"latitude": "91", "longitude": "0"}}
    bad = await service.api.post("/api/v1/locations", json=pole, headers=ADMIN)
    assert bad.status_code == 422 and "coordinates" in bad.text and "latitude" in bad.text
    zone = await service.api.post("/api/v1/locations", json={**body, "time_zone": "Mars/Olympus"}, headers=ADMIN)
    assert zone.status_code == 422 and "time_zone" in zone.text
    renamed = await service.api.put("/api/v1/locations/L-EDIT", json={**body, "name": "Renamed"}, headers=ADMIN)
    assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed"
    assert (await service.api.delete("/api/v1/locations/L-EDIT", headers=ADMIN)).status_code == 204
    assert (await service.api.get("/api/v1/locations/L-EDIT", headers=ADMIN)).status_code == 404
    query = await service.api.get("/api/v1/locations", params={"lat": "x", "lon": 0})
    assert query.status_code == 422 and "lat" in query.text
    half = await service.api.get("/api/v1/locations", params={"lat": 1})
    assert half.status_code == 422 and half.json()["errors"][0]["field"] == "query.lon"


async def test_evses_the_operator_did_not_describe_come_from_the_2x_device_model(service: RunningDiagnostics) -> None:
    from voltline_events.payloads.notifications import (
        ComponentRef,
        DeviceReport,
        ReportItem,
        VariableAttribute,
        VariableRef,
    )

    cp = service.station("CP-LOC-DC", "ocpp2.0.1")
    await cp.connect()
    await cp.status(0, "Available", connector_id=1, evse_id=1)
    items = [
        ReportItem(component=ComponentRef(name="Connector", evse_id=1, connector_id=1),
                   variable=VariableRef(name="ConnectorType"), attributes=[VariableAttribute(value="cCCS2")]),
        ReportItem(component=ComponentRef(name="EVSE", evse_id=1), variable=VariableRef(name="Power"),
                   attributes=[VariableAttribute(type="MaxSet", value="150000")]),
    ]  # fmt: skip
    await cp.send(DeviceReport(ocpp_version="ocpp2.0.1", request_id=1, generated_at=datetime.now(UTC), seq_no=0,
                               items=items))  # fmt: skip
    body = site("L-DC", 50.0, 8.0, ["CP-LOC-DC"])
    assert (await service.api.post("/api/v1/locations", json=body, headers=ADMIN)).status_code == 201

    async def dc() -> list[dict[str, Any]] | None:
        query = {"lat": 50.0, "lon": 8.0, "radius_km": 1, "connector_type": "IEC_62196_T2_COMBO", "min_power_kw": 50}
        return (await service.api.get("/api/v1/locations", params=query)).json()["items"] or None

    [found] = await eventually(dc, what="the DC charger from its device model")
    [connector] = found["stations"][0]["evses"][0]["connectors"]
    assert connector == {"connector_id": 1, "standard": "IEC_62196_T2_COMBO", "format": "CABLE", "power_type": "DC",
                         "max_power_kw": "150"}  # fmt: skip


async def test_public_search_is_rate_limited_per_address(service: RunningDiagnostics) -> None:
    codes = []
    for _ in range(service.settings.locations_burst + 1):
        answer = await service.api.get("/api/v1/locations", params={"lat": 0, "lon": 0, "radius_km": 1})
        codes.append(answer.status_code)
    assert codes[-1] == 429 and int(answer.headers["retry-after"]) >= 1
    assert answer.headers["content-type"].startswith("application/problem+json")
    operator = await service.api.get("/api/v1/locations", headers=ADMIN)  # the console: an operator's key
    assert operator.status_code == 200, operator.text


@pytest.mark.asyncio(loop_scope="function")
async def test_locations_on_sqlite(kafka: Any, sqlite_url: str) -> None:
    """The embedded store of `make run`: the same create, search (the box across the antimeridian) and delete."""
    from diagnostics_testing import run_service

    async for lite in run_service(kafka, sqlite_url):
        fiji = site("L-FIJI", -17.0, 179.99, ["CP-FIJI"])
        assert (await lite.api.post("/api/v1/locations", json=fiji, headers=ADMIN)).status_code == 201
        found = await lite.api.get("/api/v1/locations", params={"lat": -17.0, "lon": -179.99, "radius_km": 5})
        assert [i["location_id"] for i in found.json()["items"]] == ["L-FIJI"]
        assert (await lite.api.delete("/api/v1/locations/L-FIJI", headers=ADMIN)).status_code == 204
        assert (await lite.api.delete("/api/v1/locations/L-FIJI", headers=ADMIN)).status_code == 404

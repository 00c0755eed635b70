"""Prices, end to end (issue 16 items 2 and 4): gateway, auth, session, billing and diagnostics as processes over
real Kafka and PostgreSQL, stations on real WebSockets.

A driver finds an available charger near a position with its price (the tariff travels from billing to
diagnostics on the compacted tariffs topic), asks for an estimate, charges from the app on a 2.0.1 station that
is sent CostUpdated while charging and the final total, and the estimate equals the CDR; a 1.6 station gets the
California Pricing SetUserPrice at the start and FinalCost with the CDR's total at the end.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from e2e_support import RunningSystem, start_system
from ocpp_client import station
from test_drivers_e2e import driver_signs_in
from test_session_flow import BOOT_16, BOOT_201, Charger, api, event_201, known_connected, rfc3339
from test_session_support import eventually

NAMES = ("gateway", "auth", "session", "billing", "diagnostics")
BERLIN = {"lat": 52.520008, "lon": 13.404954}
TARIFF = {"tariff_id": "PX", "currency": "EUR", "energy_price_per_kwh": "0.30", "session_fee": "1.00",
          "vat_percent": "19", "default": True}  # fmt: skip
T2 = {"connector_id": 1, "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE",
      "max_power_kw": "22"}  # fmt: skip
ANSWERS = {
    "RequestStartTransaction": {"status": "Accepted"},
    "RequestStopTransaction": {"status": "Accepted"},
    "CostUpdated": {},
    "DataTransfer": {"status": "Accepted"},
}


@pytest.fixture(scope="module")
def system(kafka: Any, postgres: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    env = {"billing": {"VOLTLINE_COST_UPDATE_INTERVAL_S": "0"}}
    yield from start_system(kafka, postgres, tmp_path_factory.mktemp("prices"), extra_env=env, names=NAMES)


def meter_update(seq: int, at: datetime, wh: int) -> dict[str, Any]:
    value = {"value": wh, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}}
    return {"eventType": "Updated", "timestamp": rfc3339(at), "triggerReason": "MeterValuePeriodic", "seqNo": seq,
            "transactionInfo": {"transactionId": "E2E-TX-201", "chargingState": "Charging"},
            "meterValue": [{"timestamp": rfc3339(at), "sampledValue": [value]}]}  # fmt: skip


async def test_find_estimate_charge_and_see_the_cost(system: RunningSystem) -> None:
    alice = await driver_signs_in(system, "px@example.com")
    driver_id = alice.pop("driver_id")
    async with (
        api(system, "auth") as auth,
        api(system, "session") as sessions,
        api(system, "billing") as billing,
        api(system, "diagnostics") as diagnostics,
        httpx.AsyncClient(base_url=f"{system.url('diagnostics')}/api/v1", timeout=30) as public,
        httpx.AsyncClient(base_url=f"{system.url('session')}/api/v1/me", headers=alice, timeout=30) as me,
    ):
        assert (await billing.post("/tariffs", json=TARIFF)).status_code == 201
        assert (await auth.post("/stations", json={"station_id": "CP-PX-201"})).status_code == 201
        site = {"location_id": "PX-1", "name": "Alexanderplatz", "address": "Alexanderplatz 1", "city": "Berlin",
                "country": "DEU", "coordinates": {"latitude": "52.5215", "longitude": "13.4110"},
                "time_zone": "Europe/Berlin",
                "stations": [{"station_id": "CP-PX-201", "evses": [{"evse_id": 1, "connectors": [T2]}]}]}  # fmt: skip
        assert (await diagnostics.post("/locations", json=site)).status_code == 201, "operator creates the site"
        top_up = await billing.post(f"/wallets/{driver_id}/top-ups", json={"amount": "20", "currency": "EUR"})
        assert top_up.status_code == 201, top_up.text

        async with station(system.ocpp_url, "CP-PX-201", "ocpp2.0.1") as ws:
            cp = Charger(ws, ANSWERS)
            assert (await cp.call("BootNotification", BOOT_201))["status"] == "Accepted"
            now = rfc3339(datetime.now(UTC))
            status = {"timestamp": now, "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
            await cp.call("StatusNotification", status)

            async def found() -> dict[str, Any] | None:  # anyone, no token: the public search
                query = {**BERLIN, "radius_km": 2, "available": "true", "connector_type": "IEC_62196_T2"}
                items = (await public.get("/locations", params=query)).json()["items"]
                ok = items and items[0]["stations"][0]["price"] and items[0]["stations"][0]["evses"]
                return items[0] if ok else None

            place = await eventually(found, what="the available charger with its price in the search")
            charger = place["stations"][0]
            assert charger["evses"][0]["status"] == "Available" and 0.3 < place["distance_km"] < 1
            assert charger["price"]["text"] == "0.36 EUR/kWh + 1.19 EUR per session (incl. 19% VAT)"

            query = {"station_id": "CP-PX-201", "evse_id": 1, "energy_kwh": "4.321", "duration_min": 45}
            estimate = (await public.get(f"{system.url('billing')}/api/v1/price-estimate", params=query)).json()
            assert estimate["total_incl_vat"] == "2.74", estimate  # (4.321 x 0.30 -> 1.30) + 1.00, + 19 %

            await known_connected(sessions, "CP-PX-201")
            request = asyncio.create_task(me.post("/sessions", json={"station_id": "CP-PX-201", "evse_id": 1}))
            command = await cp.expect("RequestStartTransaction")
            assert (await request).status_code == 200
            begin = datetime.now(UTC) - timedelta(minutes=45)
            await cp.call("TransactionEvent", event_201("Started", 0, begin, "RemoteStart", command, 10_000))
            await cp.call("TransactionEvent", meter_update(1, begin + timedelta(minutes=20), 12_000))
            running = await cp.expect("CostUpdated")
            assert running["transactionId"] == "E2E-TX-201" and running["totalCost"] > 0

            async def mine() -> dict[str, Any] | None:
                items = (await me.get("/sessions", params={"status": "active"})).json()["items"]
                if not items:
                    return None
                one = (await me.get(f"/sessions/{items[0]['session_id']}")).json()
                return one if one["cost"] is not None else None

            session = await eventually(mine, what="the running cost in the driver's session")
            assert session["currency"] == "EUR" and not session["cost_final"]
            stop = asyncio.create_task(me.post(f"/sessions/{session['session_id']}/stop"))
            await cp.expect("RequestStopTransaction")
            assert (await stop).status_code == 200
            await cp.call("TransactionEvent", event_201("Ended", 2, begin + timedelta(minutes=45), "RemoteStop",
                                                        command, 14_321))  # fmt: skip

            async def cdr() -> dict[str, Any] | None:
                items = (await billing.get("/cdrs", params={"session_id": session["session_id"]})).json()["items"]
                return items[0] if items else None

            written = await eventually(cdr, what="the CDR")
            assert written["total_incl_vat"] == estimate["total_incl_vat"]
            final = await cp.expect("CostUpdated")
            while final["totalCost"] != float(written["total_incl_vat"]):  # running costs may come first
                final = await cp.expect("CostUpdated")
            await cp.close()
        done = await eventually(lambda: _final(me, session["session_id"]), what="the final cost in the app")
        assert done["cost"] == written["total_incl_vat"]


async def _final(me: httpx.AsyncClient, session_id: str) -> dict[str, Any] | None:
    one = (await me.get(f"/sessions/{session_id}")).json()
    return one if one.get("cost_final") else None


async def test_a_16_station_shows_the_user_price_and_the_final_cost(system: RunningSystem) -> None:
    async with api(system, "auth") as auth, api(system, "session") as sessions, api(system, "billing") as billing:
        if (await billing.get("/tariffs/PX")).status_code == 404:
            assert (await billing.post("/tariffs", json=TARIFF)).status_code == 201
        assert (await auth.post("/stations", json={"station_id": "CP-PX-16"})).status_code == 201
        assert (await auth.post("/id-tokens", json={"id_token": "PX16TAG", "type": "ISO14443"})).status_code == 201
        async with station(system.ocpp_url, "CP-PX-16") as ws:
            cp = Charger(ws, ANSWERS)
            assert (await cp.call("BootNotification", BOOT_16))["status"] == "Accepted"
            await known_connected(sessions, "CP-PX-16")
            begin = datetime.now(UTC) - timedelta(minutes=30)
            start = {"connectorId": 1, "idTag": "PX16TAG", "meterStart": 0, "timestamp": rfc3339(begin)}
            tx = await cp.call("StartTransaction", start)
            user = await cp.expect("DataTransfer")
            assert (user["vendorId"], user["messageId"]) == ("org.openchargealliance.costmsg", "SetUserPrice")
            text = "0.36 EUR/kWh + 1.19 EUR per session (incl. 19% VAT)"
            assert json.loads(user["data"]) == {"idToken": "PX16TAG", "priceText": text}
            stop = {"transactionId": tx["transactionId"], "meterStop": 10_000, "timestamp": rfc3339(datetime.now(UTC))}
            await cp.call("StopTransaction", stop)
            while (final := await cp.expect("DataTransfer"))["messageId"] != "FinalCost":
                pass
            data = json.loads(final["data"])
            items = (await billing.get("/cdrs", params={"station_id": "CP-PX-16"})).json()["items"]
            assert data["transactionId"] == tx["transactionId"] and data["cost"] == float(items[0]["total_incl_vat"])
            assert data["cost"] == 4.76  # 10 kWh x 0.30 + 1.00, + 19 %
            await cp.close()

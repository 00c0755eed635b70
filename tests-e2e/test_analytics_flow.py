"""Analytics end to end: real OCPP stations through the gateway, auth, session and billing services, Kafka, and
the analytics service's KPIs, NEVI CSV and AFIR feed (every service its own process, real Kafka and
PostgreSQL). A 1.6 station charges 10 kWh by card on the network's default tariff; a 2.0.1 station reports
a fault. The figures are computed by hand below."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from e2e_support import RunningSystem, start_system
from ocpp_client import station
from test_session_flow import BOOT_16, BOOT_201, ENERGY, Charger, api, rfc3339
from test_session_support import eventually

NAMES = ("auth", "session", "billing", "analytics", "gateway")


@pytest.fixture(scope="module")
def system(kafka: Any, postgres: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    yield from start_system(kafka, postgres, tmp_path_factory.mktemp("analytics"), names=NAMES)


async def _card_session_16(system: RunningSystem, start: datetime) -> None:
    async with station(system.ocpp_url, "CP-AN-16") as ws:
        cp = Charger(ws)
        assert (await cp.call("BootNotification", BOOT_16))["status"] == "Accepted"
        status = {"connectorId": 1, "errorCode": "NoError", "status": "Preparing", "timestamp": rfc3339(start)}
        await cp.call("StatusNotification", status)
        begin = {"connectorId": 1, "idTag": "CARD-AN-16", "meterStart": 2_000, "timestamp": rfc3339(start)}
        started = await cp.call("StartTransaction", begin)
        assert started["idTagInfo"]["status"] == "Accepted"
        sample = {"value": "7", "unit": "kWh", "measurand": ENERGY, "context": "Sample.Periodic"}
        reading = {"timestamp": rfc3339(start + timedelta(minutes=10)), "sampledValue": [sample]}
        tx = started["transactionId"]
        await cp.call("MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [reading]})
        end = start + timedelta(minutes=30)
        await cp.call("StopTransaction", {"transactionId": tx, "meterStop": 12_000, "timestamp": rfc3339(end),
                                          "reason": "EVDisconnected"})  # fmt: skip
        status = {**status, "status": "Available", "timestamp": rfc3339(end)}
        await cp.call("StatusNotification", status)
        await cp.close()


async def _fault_201(system: RunningSystem, at: datetime) -> None:
    async with station(system.ocpp_url, "CP-AN-201", "ocpp2.0.1") as ws:
        cp = Charger(ws)
        assert (await cp.call("BootNotification", BOOT_201))["status"] == "Accepted"
        status = {"timestamp": rfc3339(at), "connectorStatus": "Faulted", "evseId": 1, "connectorId": 1}
        await cp.call("StatusNotification", status)
        await cp.close()


async def test_a_card_session_and_a_fault_reach_the_kpis_nevi_and_afir(system: RunningSystem) -> None:
    async with api(system, "auth") as auth, api(system, "billing") as billing, api(system, "analytics") as analytics:
        for station_id in ("CP-AN-16", "CP-AN-201"):
            assert (await auth.post("/stations", json={"station_id": station_id})).status_code == 201
        token = {"id_token": "CARD-AN-16", "type": "ISO14443"}
        assert (await auth.post("/id-tokens", json=token)).status_code == 201
        tariff = {"tariff_id": "AN-DEFAULT", "currency": "EUR", "energy_price_per_kwh": "0.30", "vat_percent": "20",
                  "default": True}  # fmt: skip
        assert (await billing.post("/tariffs", json=tariff)).status_code == 201
        start = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)
        await _card_session_16(system, start)
        await _fault_201(system, start + timedelta(minutes=5))

        period = {"from": (start - timedelta(days=1)).isoformat(), "to": (start + timedelta(days=2)).isoformat(),
                  "granularity": "month", "station_id": "CP-AN-16"}  # fmt: skip

        async def kpis() -> dict[str, Any] | None:
            items = (await analytics.get("/kpis", params=period)).json()["items"]
            done = [i for i in items if i["completed_sessions"] and i["revenue_incl_vat"] != "0"]
            return done[0] if done else None

        item = await eventually(kpis, within=120, what="the session and its CDR in analytics' KPIs")
        # 10 kWh (meter 2,000 -> 12,000 Wh) at 0.30 EUR/kWh = 3.00 excl., 20 % VAT = 3.60 incl.
        assert (item["sessions"], item["energy_kwh"], item["avg_duration_min"]) == (1, "10.000", "30.0")
        assert (item["revenue_excl_vat"], item["revenue_incl_vat"], item["currency"]) == ("3.00", "3.60", "EUR")
        assert item["co2_avoided_kg"] == "6.944"  # 10 kWh x 694.4 g

        csv_params = {"from": period["from"], "to": period["to"], "station_id": "CP-AN-16"}
        nevi = list(
            csv.DictReader(io.StringIO((await analytics.get("/exports/nevi/sessions", params=csv_params)).text))
        )
        rows = [(r["port_id"], r["energy_kwh"], r["payment_method"], r["successful"], r["ocpp_version"]) for r in nevi]
        assert rows == [("1", "10.000", "rfid_card", "true", "ocpp1.6")]

        async def feed() -> dict[str, Any] | None:
            data = (await analytics.get("/afir/locations")).json()["data"]
            found = {loc["id"]: loc for loc in data}
            ready = "CP-AN-201" in found and found["CP-AN-201"]["evses"] and found.get("CP-AN-16", {}).get("evses")
            return found if ready and found["CP-AN-16"]["evses"][0]["ad_hoc_price"] else None

        locations = await eventually(feed, within=60, what="both stations in the AFIR feed with a price")
        evse16, evse201 = locations["CP-AN-16"]["evses"][0], locations["CP-AN-201"]["evses"][0]
        assert (evse16["ad_hoc_price"]["tariff_id"], evse16["ad_hoc_price"]["price_per_kwh"]) == ("AN-DEFAULT", "0.30")
        assert evse16["ad_hoc_price"]["price_per_kwh_incl_vat"] == "0.36"
        assert evse201["status"] in ("OUTOFORDER", "UNKNOWN")  # UNKNOWN once the gateway saw it disconnect
        assert (await analytics.get("/kpis", params=period)).status_code == 200

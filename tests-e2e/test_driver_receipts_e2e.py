"""Issue 16's "Done when", as far as items 1, 3 and 5 go: gateway, auth, session and billing as processes over real
Kafka and PostgreSQL, a 1.6 and a 2.0.1 station on real WebSockets.

A driver signs up, is confirmed, signs in, adds a card from the app, starts from the app on each station, follows
the live stream, stops, and gets a receipt (JSON and PDF) whose total is the CDR's, and the card capture is the
CDR total. Another driver can neither read nor stop the session, nor read its CDR or receipt. (Location search,
cost messages to the station and the QR page are other items; the lead adds their steps.)
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from e2e_support import RunningSystem, start_system
from ocpp_client import station
from pypdf import PdfReader
from test_drivers_e2e import NAMES, driver_signs_in
from test_session_flow import BOOT_16, BOOT_201, Charger, api, event_201, known_connected, rfc3339
from test_session_support import eventually

TARIFF = {"tariff_id": "APP", "currency": "EUR", "energy_price_per_kwh": "0.40", "session_fee": "0.50",
          "vat_percent": "19", "default": True}  # fmt: skip


@pytest.fixture(scope="module")
def system(kafka: Any, postgres: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    yield from start_system(kafka, postgres, tmp_path_factory.mktemp("receipts"), names=NAMES)


def client(system: RunningSystem, service: str, who: dict[str, str]) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"{system.url(service)}/api/v1/me", headers=who, timeout=30)


async def charge_and_stop(cp: Charger, me: httpx.AsyncClient, station_id: str, v16: bool) -> tuple[str, list[Any]]:
    """Start from the app, follow the stream, stop from the app: (session id, the stream's readings)."""
    request = asyncio.create_task(me.post("/sessions", json={"station_id": station_id, "evse_id": 1}))
    command = await cp.expect("RemoteStartTransaction" if v16 else "RequestStartTransaction")
    assert (started := await request).status_code == 200 and started.json()["status"] == "Accepted", started.text
    begin = datetime.now(UTC)
    if v16:
        tag = command["idTag"]
        start = {"connectorId": 1, "idTag": tag, "meterStart": 1_000, "timestamp": rfc3339(begin)}
        tx = await cp.call("StartTransaction", start)
        assert tx["idTagInfo"]["status"] == "Accepted"
    else:
        await cp.call("TransactionEvent", event_201("Started", 0, begin, "RemoteStart", command, 10_000))

    async def active() -> dict[str, Any] | None:
        items = (await me.get("/sessions", params={"status": "active"})).json()["items"]
        return items[0] if items else None

    sid = (await eventually(active, what=f"the session at {station_id} in the driver's active list"))["session_id"]
    stream = asyncio.create_task(me.get(f"/sessions/{sid}/stream"))
    stop = asyncio.create_task(me.post(f"/sessions/{sid}/stop"))
    stopped = await cp.expect("RemoteStopTransaction" if v16 else "RequestStopTransaction")
    assert (await stop).status_code == 200
    end = begin + timedelta(minutes=30)
    if v16:
        assert stopped["transactionId"] == tx["transactionId"]
        await cp.call("StopTransaction", {"transactionId": tx["transactionId"], "meterStop": 8_500,
                                          "timestamp": rfc3339(end), "reason": "Remote"})  # fmt: skip
    else:
        await cp.call("TransactionEvent", event_201("Ended", 1, end, "RemoteStop", command, 17_500))
    response = await asyncio.wait_for(stream, 60)
    readings = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
    return sid, readings


async def test_a_driver_pays_by_card_and_gets_receipts_on_16_and_201(system: RunningSystem) -> None:
    alice = await driver_signs_in(system, "carla@example.com")
    bob = await driver_signs_in(system, "dan@example.com")
    driver_id = alice.pop("driver_id")
    bob.pop("driver_id")
    actions = ("RemoteStartTransaction", "RemoteStopTransaction", "RequestStartTransaction", "RequestStopTransaction")
    answers = {action: {"status": "Accepted"} for action in actions}
    async with (
        api(system, "auth") as auth,
        api(system, "session") as sessions,
        api(system, "billing") as billing,
        client(system, "session", alice) as my_sessions,
        client(system, "billing", alice) as my_billing,
        client(system, "session", bob) as bobs_sessions,
        client(system, "billing", bob) as bobs_billing,
    ):
        assert (await billing.post("/tariffs", json=TARIFF)).status_code == 201

        async def keys_known() -> bool:  # both services follow auth's signing key on the bus
            return (await my_billing.get("/payment-methods")).status_code == 200 and (
                await my_sessions.get("/sessions")
            ).status_code == 200

        await eventually(keys_known, what="session and billing to accept the driver's token")
        card = await my_billing.post("/payment-methods", json={"token": "tok_visa", "label": "my visa"})
        assert card.status_code == 201 and card.json()["is_default"], card.text

        for station_id, protocol, boot, wh in (
            ("CP-RCT-16", "ocpp1.6", BOOT_16, 7_500),
            ("CP-RCT-201", "ocpp2.0.1", BOOT_201, 7_500),
        ):
            v16 = protocol == "ocpp1.6"
            assert (await auth.post("/stations", json={"station_id": station_id})).status_code == 201
            await billing.put(f"/stations/{station_id}/address", json={"address": f"{station_id} Street 1, Berlin"})
            async with station(system.ocpp_url, station_id, protocol) as ws:
                cp = Charger(ws, answers)
                assert (await cp.call("BootNotification", boot))["status"] == "Accepted"
                await known_connected(sessions, station_id)
                sid, readings = await charge_and_stop(cp, my_sessions, station_id, v16)
                await cp.close()
            assert readings[0]["status"] == "active" and readings[-1]["status"] == "completed"
            assert readings[-1]["energy_wh"] == wh

            async def cdr_of(sid: str = sid) -> dict[str, Any] | None:
                items = (await my_billing.get("/cdrs")).json()["items"]
                return next((c for c in items if c["session_id"] == sid), None)

            cdr = await eventually(cdr_of, what=f"the CDR of {sid} in the driver's list")
            # 7.5 kWh x 0.40 = 3.00, fee 0.50: 3.50 net, VAT 19% 0.665 -> 0.67 (half-up), total 4.17
            assert (cdr["energy_kwh"], cdr["total_excl_vat"], cdr["total_vat"], cdr["total_incl_vat"]) == (
                "7.500", "3.50", "0.67", "4.17")  # fmt: skip
            assert cdr["driver_id"] == driver_id

            async def captured(sid: str = sid) -> dict[str, Any] | None:
                items = (await billing.get("/payments", params={"session_id": sid})).json()["items"]
                return items[0] if items and items[0]["state"] == "paid" else None

            payment = await eventually(captured, what=f"the card capture of {sid}")
            assert payment["method"] == "card" and payment["captured"] == cdr["total_incl_vat"]

            receipt = (await my_billing.get(f"/cdrs/{cdr['cdr_id']}/receipt")).json()
            assert receipt["total_incl_vat"] == cdr["total_incl_vat"] and receipt["energy_kwh"] == cdr["energy_kwh"]
            assert receipt["payment"]["captured"] == cdr["total_incl_vat"]
            assert receipt["station_address"] == f"{station_id} Street 1, Berlin"
            pdf = await my_billing.get(f"/cdrs/{cdr['cdr_id']}/receipt.pdf")
            assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
            text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
            for expected in (receipt["number"], "Total (incl. VAT): 4.17 EUR", "7.500 kWh", station_id,
                             "charged 4.17 EUR"):  # fmt: skip
                assert expected in text, (expected, text)

            # Another driver: not the session, not its CDR, not its receipt.
            assert (await bobs_sessions.get(f"/sessions/{sid}")).status_code == 404
            assert (await bobs_sessions.post(f"/sessions/{sid}/stop")).status_code == 404
            for path in (
                f"/cdrs/{cdr['cdr_id']}",
                f"/cdrs/{cdr['cdr_id']}/receipt",
                f"/cdrs/{cdr['cdr_id']}/receipt.pdf",
            ):
                assert (await bobs_billing.get(path)).status_code == 404, path
            assert (await bobs_billing.get("/cdrs")).json()["items"] == []


def _card_event_201(kind: str, seq: int, at: datetime, card: str, wh: int) -> dict[str, Any]:
    info: dict[str, Any] = {"transactionId": "E2E-CARD-201"}
    if kind == "Ended":
        info["stoppedReason"] = "Local"
    context = "Transaction.Begin" if kind == "Started" else "Transaction.End"
    value = {"value": wh, "measurand": "Energy.Active.Import.Register", "context": context}
    return {
        "eventType": kind, "timestamp": rfc3339(at), "seqNo": seq, "transactionInfo": info,
        "triggerReason": "Authorized" if kind == "Started" else "StopAuthorized",
        "evse": {"id": 1, "connectorId": 1}, "idToken": {"idToken": card, "type": "ISO14443"},
        "meterValue": [{"timestamp": rfc3339(at), "sampledValue": [value]}],
    }  # fmt: skip


async def charge_by_card(cp: Charger, card: str, v16: bool) -> None:
    """Issue 16: the driver holds their card to the reader; no app."""
    begin = datetime.now(UTC)
    end = begin + timedelta(minutes=30)
    if v16:
        assert (await cp.call("Authorize", {"idTag": card}))["idTagInfo"]["status"] == "Accepted"
        start = {"connectorId": 1, "idTag": card, "meterStart": 1_000, "timestamp": rfc3339(begin)}
        tx = await cp.call("StartTransaction", start)
        assert tx["idTagInfo"]["status"] == "Accepted", tx
        await cp.call("StopTransaction", {"transactionId": tx["transactionId"], "meterStop": 8_500, "idTag": card,
                                          "timestamp": rfc3339(end), "reason": "Local"})  # fmt: skip
    else:
        started = await cp.call("TransactionEvent", _card_event_201("Started", 0, begin, card, 10_000))
        assert started["idTokenInfo"]["status"] == "Accepted", started
        await cp.call("TransactionEvent", _card_event_201("Ended", 1, end, card, 17_500))


async def test_a_drivers_rfid_card_charges_their_card_on_16_and_201(system: RunningSystem) -> None:
    """Issue 16: a session started with a driver's RFID card carries the driver: their card pays, the CDR, the
    session and the receipt are theirs."""
    erin = await driver_signs_in(system, "erin@example.com")
    driver_id = erin.pop("driver_id")
    async with (
        api(system, "auth") as auth,
        api(system, "session") as sessions,
        api(system, "billing") as billing,
        client(system, "session", erin) as my_sessions,
        client(system, "billing", erin) as my_billing,
    ):
        await billing.post("/tariffs", json=TARIFF)  # 409 when the other test of this module created it

        async def keys_known() -> bool:
            return (await my_billing.get("/payment-methods")).status_code == 200

        await eventually(keys_known, what="billing to accept the driver's token")
        card = await my_billing.post("/payment-methods", json={"token": "tok_visa", "label": "visa"})
        assert card.status_code == 201, card.text
        rfid = {"id_token": "RFID-ERIN-01", "type": "ISO14443", "driver_id": driver_id}
        assert (await auth.post("/id-tokens", json=rfid)).status_code == 201

        for station_id, protocol, boot in (("CP-RFID-16", "ocpp1.6", BOOT_16), ("CP-RFID-201", "ocpp2.0.1", BOOT_201)):
            assert (await auth.post("/stations", json={"station_id": station_id})).status_code == 201
            async with station(system.ocpp_url, station_id, protocol) as ws:
                cp = Charger(ws, {})
                assert (await cp.call("BootNotification", boot))["status"] == "Accepted"
                await known_connected(sessions, station_id)
                await charge_by_card(cp, "RFID-ERIN-01", protocol == "ocpp1.6")
                await cp.close()

            async def mine(station_id: str = station_id) -> dict[str, Any] | None:
                items = (await my_sessions.get("/sessions", params={"status": "completed"})).json()["items"]
                return next((s for s in items if s["station_id"] == station_id), None)

            session = await eventually(mine, what=f"the card session at {station_id} in the driver's list")
            sid = session["session_id"]
            assert (await sessions.get(f"/sessions/{sid}")).json()["driver_id"] == driver_id

            async def cdr_of(sid: str = sid) -> dict[str, Any] | None:
                items = (await my_billing.get("/cdrs")).json()["items"]
                return next((c for c in items if c["session_id"] == sid), None)

            cdr = await eventually(cdr_of, what=f"the CDR of {sid} in the driver's /me/cdrs")
            assert (cdr["driver_id"], cdr["energy_kwh"], cdr["total_incl_vat"]) == (driver_id, "7.500", "4.17")

            async def captured(sid: str = sid) -> dict[str, Any] | None:
                items = (await billing.get("/payments", params={"session_id": sid})).json()["items"]
                return items[0] if items and items[0]["state"] == "paid" else None

            payment = await eventually(captured, what=f"the card capture of {sid}")
            assert (payment["driver_id"], payment["method"], payment["captured"]) == (driver_id, "card", "4.17")
            receipt = (await my_billing.get(f"/cdrs/{cdr['cdr_id']}/receipt")).json()
            assert receipt["total_incl_vat"] == "4.17" and receipt["payment"]["captured"] == "4.17"

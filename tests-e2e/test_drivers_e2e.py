"""A driver charges from the app, end to end: gateway, auth, session and billing as processes over real Kafka and
PostgreSQL, a 1.6 station on a real WebSocket.

Sign up, confirmation (by the operator), sign-in, a refused start without a way to pay, a wallet top-up, the
start from the app, the session active in the driver's list, the stop from the app, the session in the past list;
another driver sees none of it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from e2e_support import RunningSystem, start_system
from ocpp_client import station
from test_session_flow import BOOT_16, Charger, api, known_connected, rfc3339
from test_session_support import eventually

NAMES = ("gateway", "auth", "session", "billing")


@pytest.fixture(scope="module")
def system(kafka: Any, postgres: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    yield from start_system(kafka, postgres, tmp_path_factory.mktemp("drivers"), names=NAMES)


async def driver_signs_in(system: RunningSystem, email: str) -> dict[str, str]:
    async with (
        httpx.AsyncClient(base_url=f"{system.url('auth')}/api/v1", timeout=30) as anon,
        api(system, "auth") as operator,
    ):
        account = await anon.post("/driver-accounts", json={"email": email, "password": "a long password", "name": "D"})
        assert account.status_code == 201, account.text
        confirmed = await operator.post(f"/driver-accounts/{account.json()['driver_id']}/confirm")
        assert confirmed.status_code == 200, confirmed.text
        tokens = await anon.post("/driver-token", json={"email": email, "password": "a long password"})
        assert tokens.status_code == 200, tokens.text
        return {"Authorization": f"Bearer {tokens.json()['access_token']}", "driver_id": account.json()["driver_id"]}


async def test_a_driver_charges_from_the_app_on_a_16_station(system: RunningSystem) -> None:
    alice = await driver_signs_in(system, "alice@example.com")
    bob = await driver_signs_in(system, "bob@example.com")
    driver_id = alice.pop("driver_id")
    bob.pop("driver_id")
    answers = {"RemoteStartTransaction": {"status": "Accepted"}, "RemoteStopTransaction": {"status": "Accepted"}}
    async with (
        contextlib.AsyncExitStack() as stack,
        api(system, "auth") as auth,
        api(system, "session") as sessions,
        api(system, "billing") as billing,
    ):
        assert (await auth.post("/stations", json={"station_id": "CP-APP-16"})).status_code == 201
        me = await stack.enter_async_context(
            httpx.AsyncClient(base_url=f"{system.url('session')}/api/v1/me", headers=alice, timeout=30)
        )

        async def key_known() -> bool:  # the session service follows auth's signing key on the bus
            return (await me.get("/sessions")).status_code == 200

        await eventually(key_known, what="the session service to accept the driver's token")
        async with station(system.ocpp_url, "CP-APP-16") as ws:
            cp = Charger(ws, answers)
            assert (await cp.call("BootNotification", BOOT_16))["status"] == "Accepted"
            await known_connected(sessions, "CP-APP-16")

            refused = await me.post("/sessions", json={"station_id": "CP-APP-16"})
            assert refused.status_code == 402 and refused.json()["code"] == "payment_required", refused.text
            top_up = await billing.post(f"/wallets/{driver_id}/top-ups", json={"amount": "20", "currency": "EUR"})
            assert top_up.status_code == 201, top_up.text

            request = asyncio.create_task(me.post("/sessions", json={"station_id": "CP-APP-16"}))
            command = await cp.expect("RemoteStartTransaction")
            started = await request
            assert started.status_code == 200 and started.json()["status"] == "Accepted", started.text
            tag = command["idTag"]
            assert tag.startswith("APP")
            begin = datetime.now(UTC)
            tx = await cp.call(
                "StartTransaction", {"connectorId": 1, "idTag": tag, "meterStart": 1_000, "timestamp": rfc3339(begin)}
            )
            assert tx["idTagInfo"]["status"] == "Accepted"

            async def active() -> dict[str, Any] | None:
                items = (await me.get("/sessions", params={"status": "active"})).json()["items"]
                return items[0] if items and items[0]["driver_id"] == driver_id else None

            session = await eventually(active, what="the session in the driver's active list")
            sid = session["session_id"]
            async with httpx.AsyncClient(base_url=f"{system.url('session')}/api/v1/me", headers=bob) as other:
                assert (await other.get("/sessions")).json()["items"] == []
                assert (await other.get(f"/sessions/{sid}")).status_code == 404
                assert (await other.post(f"/sessions/{sid}/stop")).status_code == 404

            stop = asyncio.create_task(me.post(f"/sessions/{sid}/stop"))
            await cp.expect("RemoteStopTransaction")
            assert (await stop).status_code == 200
            await cp.call(
                "StopTransaction",
                {"transactionId": tx["transactionId"], "meterStop": 1_100, "timestamp": rfc3339(datetime.now(UTC))},
            )
            await cp.close()

            async def past() -> dict[str, Any] | None:
                items = (await me.get("/sessions", params={"status": "completed"})).json()["items"]
                return items[0] if items else None

            done = await eventually(past, what="the session in the driver's past list")
            assert (done["session_id"], done["energy_wh"]) == (sid, 100)

"""A guest pays by card on a charger's QR page, in a real browser (Debian's headless Chromium through Selenium):
gateway, auth, session and billing as processes over real Kafka and PostgreSQL, a 1.6 station on a real WebSocket.

The guest opens the page of the station's EVSE, sees the price, types a sandbox test card into the provider's
hosted fields (an iframe), pays; the station is started for a one-time token, charges, and stops; the page shows
the receipt, and the sandbox shows a capture of exactly the CDR total and the rest of the hold given back.
Screenshots: test-output/pay/.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from console_browser import ConsolePage, start_chromium
from e2e_support import RunningSystem, start_system
from ocpp_client import station
from test_session_flow import BOOT_16, Charger, api, known_connected, rfc3339
from test_session_support import eventually
from voltline_devinfra.browser import output_dir

NAMES = ("gateway", "auth", "session", "billing")
STATION = "CP-QR-16"


@pytest.fixture(scope="module")
def system(kafka: Any, postgres: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    env = {"billing": {"VOLTLINE_ADHOC_HOLD_AMOUNT": '{"EUR": "30.00"}'}}
    yield from start_system(kafka, postgres, tmp_path_factory.mktemp("qrpay"), env, names=NAMES)


@pytest.fixture(scope="module")
def page(system: RunningSystem) -> Iterator[ConsolePage]:
    driver = start_chromium(width=420, height=900)  # a phone-sized window
    try:
        yield ConsolePage(driver, system.url("billing"), output_dir("pay"))
    finally:
        driver.quit()


async def step(fn: Any, *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


async def test_a_guest_pays_by_card_on_the_qr_page_and_is_charged_the_cdr_total(
    system: RunningSystem, page: ConsolePage
) -> None:
    answers = {"RemoteStartTransaction": {"status": "Accepted"}}
    async with (
        contextlib.AsyncExitStack(),
        api(system, "auth") as auth,
        api(system, "session") as sessions,
        api(system, "billing") as billing,
    ):
        assert (await auth.post("/stations", json={"station_id": STATION})).status_code == 201
        tariff = {"tariff_id": "AFIR", "currency": "EUR", "energy_price_per_kwh": "0.45", "session_fee": "0.50",
                  "vat_percent": "19", "default": True}  # fmt: skip
        assert (await billing.post("/tariffs", json=tariff)).status_code == 201
        qr = await billing.get(f"/stations/{STATION}/evses/1/qr.svg")
        assert qr.status_code == 200 and qr.headers["content-type"] == "image/svg+xml"
        (page.shots / "qr-code.svg").write_bytes(qr.content)

        async with station(system.ocpp_url, STATION) as ws:
            cp = Charger(ws, answers)
            assert (await cp.call("BootNotification", BOOT_16))["status"] == "Accepted"
            await cp.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"})
            await known_connected(sessions, STATION)

            await step(page.go, f"/pay/{STATION}/1")
            price = await step(page.wait_text, "#price-energy", lambda t: "0.45 EUR/kWh" in t)
            assert "0.54 EUR incl. VAT" in price
            assert "30.00 EUR" in await step(page.text, "#hold-amount")
            await step(page.screenshot, "1-price")

            def enter_card(number: str = "4242 4242 4242 4242") -> None:
                with page.inside_frame("#card-frame"):
                    page.type("#card-number", number)
                    page.type("#card-expiry", "12/30")
                    page.type("#card-cvc", "123")
                    page.click("#use-card")
                page.wait_text("#card-summary", lambda t: number[-4:] in t)
                page.find("#pay:enabled")
                page.type("#email", "guest@example.com")

            await step(enter_card, "4000 0000 0000 0002")  # a card the sandbox declines: nothing starts
            await step(page.click, "#pay")
            reason = await step(page.wait_text, "#reason", lambda t: "declined" in t)
            assert "Try another card" in reason and await step(page.text, "#retry") == "Try another card"
            await step(page.screenshot, "1b-declined")
            await step(page.click, "#retry")

            await step(enter_card)
            await step(page.screenshot, "2-card-entered")

            pressed = asyncio.create_task(step(page.click, "#pay"))  # waits while the station is started
            command = await cp.expect("RemoteStartTransaction")
            await pressed
            tag = command["idTag"]
            assert tag.startswith("GST") and command["connectorId"] == 1
            begin = datetime.now(UTC)
            tx = await cp.call(
                "StartTransaction", {"connectorId": 1, "idTag": tag, "meterStart": 5_000, "timestamp": rfc3339(begin)}
            )
            assert tx["idTagInfo"]["status"] == "Accepted"
            await step(page.wait_text, "#state", lambda t: t.startswith("Charging"))
            await step(page.screenshot, "3-charging")

            end = rfc3339(begin + timedelta(minutes=20))
            stop = {"transactionId": tx["transactionId"], "meterStop": 12_400, "timestamp": end, "reason": "Local"}
            await cp.call("StopTransaction", stop)
            captured = await step(page.wait_text, "#captured", lambda t: t.endswith("EUR"), 60.0)
            await step(page.screenshot, "4-receipt")
            total = await step(page.text, "#receipt-total")
            released = await step(page.text, "#released")
            await cp.close()

        async def cdr() -> dict[str, Any] | None:
            items = (await billing.get("/cdrs", params={"station_id": STATION})).json()["items"]
            return items[0] if items else None

        found = await eventually(cdr, what="the guest's CDR")
        assert found["total_incl_vat"] == "4.56"  # (7.4 kWh x 0.45 + 0.50) x 1.19 = 3.83 + 0.73
        assert total == captured == "4.56 EUR" and released == "25.44 EUR"
        sandbox = (await billing.get("/sandbox/operations")).json()
        assert [(o["kind"], o["amount"], o["outcome"]) for o in sandbox["items"]] == [
            ("authorize", "30.00", "declined"),
            ("authorize", "30.00", "ok"),
            ("capture", "4.56", "ok"),
        ]
        [intent] = sandbox["intents"].values()  # the declined card left none
        assert Decimal(intent["authorized"]) - Decimal(intent["captured"]) == Decimal("25.44")
        token = (await auth.get(f"/id-tokens/{tag}", params={"type": "Central"})).json()
        assert token["status"] == "Expired"  # one session per guest token
        log = system.stack.services["billing"].log_path  # no SMTP host in the stack: the receipt mail is logged

        async def mailed() -> bool:
            text = log.read_text()
            return "guest@example.com" in text and "Total: 4.56 EUR" in text

        await eventually(mailed, what="the receipt mailed (to billing's log)")

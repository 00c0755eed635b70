"""The operators' console in a real browser over the running system (issue 17).

Log in with the admin token, watch a station come online and a connector turn Faulted without reloading,
reset it and see the station accept, create a tariff (and see billing's 422 next to its field), acknowledge
the alert, create a location and see its marker on the map; a viewer key sees no write action. Screenshots of
each page go to test-output/console/.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from console_browser import ConsolePage, start_chromium
from e2e_support import RunningSystem, start_system
from maintenance_support import connected, register
from voltline_devinfra.browser import output_dir
from voltline_devinfra.stack import CONSOLE, SERVICES

pytestmark = pytest.mark.asyncio(loop_scope="module")
STATION = "CONSOLE-1"


@pytest.fixture(scope="module")
def system(kafka: Any, postgres: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    env = {CONSOLE: {"VOLTLINE_CONSOLE_POLL_S": "0.5"}}
    yield from start_system(kafka, postgres, tmp_path_factory.mktemp("console"), env, names=(*SERVICES, CONSOLE))


@pytest.fixture(scope="module")
def page(system: RunningSystem) -> Iterator[ConsolePage]:
    driver = start_chromium()
    try:
        yield ConsolePage(driver, system.url(CONSOLE), output_dir("console"))
    finally:
        driver.quit()


def status(connector: str, error: str = "NoError") -> dict[str, Any]:
    return {"connectorId": 1, "errorCode": error, "status": connector}


async def step(fn: Any, *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


async def test_operator_watches_a_station_resets_it_and_a_viewer_cannot(system: RunningSystem, page: ConsolePage):
    await register(system, STATION)
    async with httpx.AsyncClient(base_url=f"{system.url('auth')}/api/v1", headers=system.headers) as auth:
        issued = await auth.post("/api-keys", json={"name": "console e2e viewer", "role": "viewer"})
        assert issued.status_code == 201, issued.text
        viewer_key = issued.json()["key"]

    await step(page.go, "/stations")
    assert "/login" in page.driver.current_url  # not logged in yet
    await step(page.screenshot, "login")
    await step(page.login, system.admin_token)
    await step(page.go, "/stations")
    await step(page.find, 'body[data-live="open"]')  # diagnostics' event stream, through the console
    await step(page.mark)

    async with connected(system, STATION, "ocpp1.6", {"Reset": {"status": "Accepted"}}) as cp:
        await cp.boot()
        await cp.call("StatusNotification", status("Available"))
        await step(page.find, f'#station-{STATION}[data-health="online"] [data-status="Available"]')
        await cp.call("StatusNotification", status("Faulted", "GroundFailure"))
        await step(page.find, f'#station-{STATION} [data-status="Faulted"]')
        await step(page.find, "body[data-live-events]")  # diagnostics' events reached the page
        assert await step(page.not_reloaded), "the list must update in place, not by reloading the page"
        await step(page.screenshot, "stations")

        await step(page.go, f"/stations/{STATION}")
        await step(page.find, '#station-live [data-status="Faulted"]')
        await step(page.click, '[data-action="reset-soft"]')
        await step(page.press_enter_on_focused, '[data-action="confirm-reset"]')  # keyboard: focus moved there
        result = await step(page.find, '[data-command-status="accepted"]')
        assert "Accepted" in result.text
        assert cp.last("Reset") == {"type": "Soft"}
        qr = "return document.querySelector('[data-qr=\"1\"] img').naturalWidth"
        assert await step(page.driver.execute_script, qr) > 0, "billing's QR code of EVSE 1 is shown"
        await step(page.screenshot, "station")

        await step(page.go, "/alerts")
        await step(page.click, '[data-action="acknowledge"]')
        await step(page.find, "td .s-acknowledged")
        await step(page.screenshot, "alerts")

    await step(page.go, "/tariffs")
    for field, value in {"tariff_id": "CONSOLE-T1", "currency": "EUR", "energy_price_per_kwh": "0.39"}.items():
        await step(page.type, f"#f-{field}", value)
    await step(page.click, "form.stack button[type=submit]")
    assert "Tariff CONSOLE-T1 created" in (await step(page.find, "p.ok")).text
    await step(page.type, "#f-tariff_id", "CONSOLE-T2")
    await step(page.type, "#f-currency", "EURO")
    await step(page.click, "form.stack button[type=submit]")
    assert (await step(page.find, "#e-currency")).text  # billing's 422, next to its field
    await step(page.screenshot, "tariffs")

    await step(page.go, "/locations/new")
    site = {"location_id": "CONSOLE-SITE", "name": "Console site", "address": "Alexanderplatz 1", "city": "Berlin",
            "latitude": "52.5219", "longitude": "13.4132", "stations": STATION}  # fmt: skip
    for field, value in site.items():
        await step(page.type, f"#f-{field}", value)
    await step(page.screenshot, "location-new")
    await step(page.click, "form.stack button[type=submit]")
    await step(page.find, '[data-location="CONSOLE-SITE"]')
    await step(page.screenshot, "locations")
    await step(page.go, "/map")
    await step(page.find, '.leaflet-marker-icon[title="Console site"]')  # the site, drawn from the locations
    await step(page.screenshot, "map-site")

    await step(page.go, "/sessions")
    await step(page.screenshot, "sessions")
    await step(page.go, "/")
    await step(page.find, "#h-fleet")
    await step(page.screenshot, "overview")
    await step(page.driver.set_window_size, 390, 844)
    await step(page.screenshot, "overview-phone")
    await step(page.driver.set_window_size, 1280, 900)

    await step(page.click, ".logout button")
    await step(page.login, viewer_key)
    await step(page.go, f"/stations/{STATION}")
    await step(page.find, '#station-live [data-status="Faulted"], #station-live [data-health]')
    assert not await step(page.all, "[data-action]"), "a viewer sees no maintenance action"
    await step(page.screenshot, "station-viewer")
    await step(page.go, "/tariffs")
    assert not await step(page.all, "form.stack")
    await step(page.go, "/alerts?status=")
    await step(page.find, "td .s-acknowledged")
    assert not await step(page.all, '[data-action="acknowledge"]')


PAGES = ("/map", "/locations", "/drivers", "/local-lists", "/cdrs", "/invoices", "/payments", "/firmware", "/analytics",
         "/admin/api-keys", "/admin/audit")  # fmt: skip


def rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def readings(tx: int, at: datetime, wh: int, watts: int) -> dict[str, Any]:
    return {"connectorId": 1, "transactionId": tx, "meterValue": [meter(at, wh, watts)]}


def meter(at: datetime, wh: int, watts: int) -> dict[str, Any]:
    return {"timestamp": rfc3339(at), "sampledValue": [
        {"value": str(wh), "unit": "Wh", "measurand": "Energy.Active.Import.Register", "context": "Sample.Periodic"},
        {"value": str(watts), "unit": "W", "measurand": "Power.Active.Import", "context": "Sample.Periodic"},
    ]}  # fmt: skip


async def test_live_chart_lost_card_refund_and_every_page(system: RunningSystem, page: ConsolePage) -> None:
    """A session's chart gains points without a reload; the card is blocked; its payment refunded; every page."""
    station_id, card = "CONSOLE-2", "CARDC17"
    await register(system, station_id)
    async with (
        httpx.AsyncClient(base_url=f"{system.url('auth')}/api/v1", headers=system.headers) as auth,
        httpx.AsyncClient(base_url=f"{system.url('billing')}/api/v1", headers=system.headers) as billing,
        httpx.AsyncClient(base_url=f"{system.url('session')}/api/v1", headers=system.headers) as sessions,
    ):
        driver = (await auth.post("/drivers", json={"name": "Ada", "email": "ada.c17@example.com"})).json()
        token = {"id_token": card, "type": "ISO14443", "driver_id": driver["driver_id"]}
        assert (await auth.post("/id-tokens", json=token)).status_code == 201
        tariff = {"tariff_id": "CONSOLE-STD", "currency": "EUR", "energy_price_per_kwh": "0.50", "session_fee": "1.00",
                  "default": True}  # fmt: skip
        assert (await billing.post("/tariffs", json=tariff)).status_code == 201
        method = {"type": "card", "token": "tok_visa"}
        assert (await billing.post(f"/drivers/{driver['driver_id']}/payment-methods", json=method)).status_code == 201
        viewer = await auth.post("/api-keys", json={"name": "console e2e viewer 2", "role": "viewer"})
        viewer_key = viewer.json()["key"]

        if "/login" not in page.driver.current_url:
            await step(page.go, "/")
            if await step(page.all, ".logout button"):
                await step(page.click, ".logout button")
        await step(page.login, system.admin_token)
        start = datetime.now(UTC) - timedelta(minutes=10)
        config = {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}
        answers = {"GetConfiguration": config, "ChangeConfiguration": {"status": "Accepted"}}
        async with connected(system, station_id, "ocpp1.6", answers) as cp:
            await cp.boot()
            await cp.call("StatusNotification", status("Preparing"))
            started = await cp.call(
                "StartTransaction", {"connectorId": 1, "idTag": card, "meterStart": 1_000, "timestamp": rfc3339(start)}
            )
            tx = started["transactionId"]
            await cp.call("MeterValues", readings(tx, start + timedelta(minutes=1), 1_200, 7_400))

            async def active() -> str:
                while True:
                    found = (await sessions.get("/sessions", params={"station_id": station_id})).json()["items"]
                    if found and found[0]["status"] == "active":
                        return str(found[0]["session_id"])
                    await asyncio.sleep(0.2)

            session_id = await asyncio.wait_for(active(), 30)
            await step(page.go, f"/sessions/{session_id}")
            chart = "#session-chart"
            await step(page.find, f'{chart}[data-status="active"]')
            before = int(await step(page.attribute, chart, "data-points"))
            await step(page.mark)
            await cp.call("MeterValues", readings(tx, start + timedelta(minutes=2), 1_400, 7_300))
            await step(page.find, f'{chart}[data-points="{before + 1}"]')
            assert await step(page.not_reloaded), "the chart must gain points in place"
            await step(page.screenshot, "session-live")

            await step(page.go, f"/stations/{station_id}")  # read the configuration, change a key
            await step(page.click, '[data-action="get-configuration"]')
            await step(page.press_enter_on_focused, '[data-action="confirm-get-configuration"]')
            await step(page.click, '[data-config="keys"] [data-action="edit-key"]')
            await step(page.type, "#f-value", "120")
            await step(page.click, '[data-action="confirm-set-configuration"]')
            await step(page.find, "#action [data-command-status]:not([data-command-status=failed])")
            assert cp.last("ChangeConfiguration") == {"key": "HeartbeatInterval", "value": "120"}
            await step(page.screenshot, "station-configuration")
            stop = {"transactionId": tx, "meterStop": 1_600, "timestamp": rfc3339(start + timedelta(minutes=3))}
            await cp.call("StopTransaction", {**stop, "reason": "EVDisconnected"})

        seen: list[Any] = []

        async def paid() -> str:
            while True:
                seen[:] = (await billing.get("/payments", params={"session_id": session_id})).json()["items"]
                if seen and seen[0]["state"] == "paid":
                    return str(seen[0]["payment_id"])
                if seen and seen[0]["state"] == "unassigned":  # the card's driver was not known at the start yet
                    assign = {"driver_id": driver["driver_id"]}
                    await billing.post(f"/payments/{seen[0]['payment_id']}/assign", json=assign)
                await asyncio.sleep(0.3)

        try:
            payment_id = await asyncio.wait_for(paid(), 60)
        except TimeoutError:
            raise AssertionError(f"no paid payment for {session_id}: {seen}") from None

    await step(page.go, f"/sessions/{session_id}")
    await step(page.find, "[data-cdr]")
    await step(page.screenshot, "session-cdr")
    await step(page.go, f"/payments/{payment_id}")
    await step(page.type, "#f-amount", "0.10")
    await step(page.type, "#f-reason", "console e2e")
    await step(page.click, '[data-action="refund"]')
    await step(page.press_enter_on_focused, '[data-action="confirm-refund"]')
    await step(page.find, "[data-refund-state]")
    await step(page.screenshot, "payment-refund")

    await step(page.go, f"/drivers?card={card}")
    await step(page.click, '[data-action="block"]')
    assert card in await step(page.accept_dialog)
    await step(page.find, '[data-token-status="Blocked"]')
    await step(page.screenshot, "drivers")

    await step(page.go, f"/stations/{station_id}")
    await step(page.find, ".timeline rect")
    await step(page.screenshot, "station-details")
    await step(page.go, "/tariffs/CONSOLE-T1/edit")
    await step(page.find, "[data-preview-total]")
    await step(page.screenshot, "tariff-edit")
    for path in PAGES:
        await step(page.go, path)
        await step(page.find, "main h1")
        assert not await step(page.all, "p.problem"), f"{path}: {await step(page.text, 'p.problem')}"
        await step(page.screenshot, path.strip("/").replace("/", "-"))
    await step(page.driver.set_window_size, 390, 844)
    await step(page.go, "/map")
    await step(page.find, f'[data-station="{station_id}"]')
    await step(page.screenshot, "map-phone")
    await step(page.driver.set_window_size, 1280, 900)

    await step(page.click, ".logout button")
    await step(page.login, viewer_key)
    await step(page.go, f"/drivers?card={card}")
    await step(page.find, '[data-token-status="Blocked"]')
    await step(page.go, f"/payments/{payment_id}")
    await step(page.find, "[data-refunded]")
    for path in (
        "/drivers",
        f"/payments/{payment_id}",
        f"/stations/{station_id}",
        "/alerts?status=",
        "/tariffs",
        "/locations",
    ):
        await step(page.go, path)
        await step(page.find, "main h1")
        assert not await step(page.all, "[data-action]:not([data-action=csv])"), (
            f"a viewer sees a write action on {path}"
        )

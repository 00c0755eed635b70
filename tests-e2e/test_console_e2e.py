"""The operators' console in a real browser over the running system (issue 17).

Log in with the admin token, watch a station come online and a connector turn Faulted without reloading,
reset it and see the station accept, create a tariff (and see billing's 422 next to its field), acknowledge
the alert; a viewer key sees no write action. Screenshots of each page go to test-output/console/.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
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
    await step(page.mark)

    async with connected(system, STATION, "ocpp1.6", {"Reset": {"status": "Accepted"}}) as cp:
        await cp.boot()
        await cp.call("StatusNotification", status("Available"))
        await step(page.find, f'#station-{STATION}[data-health="online"] [data-status="Available"]')
        await cp.call("StatusNotification", status("Faulted", "GroundFailure"))
        await step(page.find, f'#station-{STATION} [data-status="Faulted"]')
        assert await step(page.not_reloaded), "the list must update in place, not by reloading the page"
        await step(page.screenshot, "stations")

        await step(page.go, f"/stations/{STATION}")
        await step(page.find, '#station-live [data-status="Faulted"]')
        await step(page.click, '[data-action="reset-soft"]')
        await step(page.press_enter_on_focused, '[data-action="confirm-reset"]')  # keyboard: focus moved there
        result = await step(page.find, '[data-command-status="accepted"]')
        assert "Accepted" in result.text
        assert cp.last("Reset") == {"type": "Soft"}
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

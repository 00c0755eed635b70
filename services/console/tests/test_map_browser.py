"""The map in a real browser (Debian's Chromium, as the e2e tests): Leaflet draws a marker per station that has a
position. Over fake services, because diagnostics reports no positions yet; the tiles are not asserted (they
need the internet): the page says so when they fail, and the list is always there."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from console_fakes import FakeApi, FakeKeys
from pydantic import SecretStr
from test_pages import STATION
from voltline_console.bootstrap import build
from voltline_console.settings import ConsoleSettings
from voltline_devinfra.browser import output_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests-e2e"))
from console_browser import ConsolePage, start_chromium

ADMIN = "test-admin-token-0123456789"


@pytest.fixture
def console_url() -> Iterator[str]:
    api = FakeApi()
    stations = [
        {**STATION, "station_id": "MAP-1", "location": {"latitude": 52.52, "longitude": 13.40}},
        {**STATION, "station_id": "MAP-2", "health": "offline", "latitude": 48.14, "longitude": 11.58},
        {**STATION, "station_id": "NOWHERE"},
    ]
    api.routes[("diagnostics", "GET", "/stations")] = {"items": stations}
    api.routes[("diagnostics", "GET", "/alerts")] = {"items": []}
    app = build(ConsoleSettings(admin_token=SecretStr(ADMIN), log_json=False), keys=FakeKeys(), api=api)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        while not server.started:
            thread.join(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_the_map_has_a_marker_per_station_with_a_position(console_url: str) -> None:
    driver = start_chromium()
    try:
        page = ConsolePage(driver, console_url, output_dir("console"))
        page.login(ADMIN)
        page.go("/map")
        page.find('#map[data-ready="true"]')
        titles = sorted(m.get_attribute("title") for m in page.all(".leaflet-marker-icon"))
        assert titles == ["MAP-1", "MAP-2"]
        assert page.find('.leaflet-marker-icon[title="MAP-2"]').get_attribute("class").count("s-offline") == 1
        assert page.all('[data-station="NOWHERE"]'), "the list shows every station, with a position or not"
        page.screenshot("map-markers")
    finally:
        driver.quit()

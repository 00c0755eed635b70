"""The map and the live stream in a real browser (Debian's Chromium, as the e2e tests), over fake services:
Leaflet draws a marker per site (diagnostics' locations) coloured by its stations' state; the tiles are not
asserted (they need the internet): the page says so when they fail, and the list is always there. A live part
refreshes on an event of diagnostics' stream (proxied by the console) and skips its polls while the stream is
open."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
def calls() -> list[Any]:
    return []


@pytest.fixture
def console_url(calls: list[Any]) -> Iterator[str]:
    api = FakeApi()
    stations = [
        {**STATION, "station_id": "MAP-1", "connectors": []},
        {**STATION, "station_id": "MAP-2", "health": "offline", "connectors": []},
        {**STATION, "station_id": "NOWHERE"},
    ]
    sites = [
        {"location_id": "BER", "name": "Berlin", "coordinates": {"latitude": "52.52", "longitude": "13.40"},
         "stations": [{"station_id": "MAP-1"}]},
        {"location_id": "MUC", "name": "Munich", "coordinates": {"latitude": "48.14", "longitude": "11.58"},
         "stations": [{"station_id": "MAP-2"}]},
    ]  # fmt: skip
    api.routes[("diagnostics", "GET", "/stations")] = {"items": stations}
    api.routes[("diagnostics", "GET", "/locations")] = {"items": sites}
    api.routes[("diagnostics", "GET", "/alerts")] = {"items": []}
    event = b'event: diagnostics.connector_status_changed\ndata: {"station_id": "MAP-1"}\n\n'
    api.streams[("diagnostics", "/stream")] = [b": connected\n\n", event]
    api.stream_hold_s = 20.0
    calls.extend([api.calls])
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


def test_the_map_has_a_marker_per_site(console_url: str) -> None:
    driver = start_chromium()
    try:
        page = ConsolePage(driver, console_url, output_dir("console"))
        page.login(ADMIN)
        page.go("/map")
        page.find('#map[data-ready="true"]')
        titles = sorted(m.get_attribute("title") for m in page.all(".leaflet-marker-icon"))
        assert titles == ["Berlin", "Munich"]
        assert page.find('.leaflet-marker-icon[title="Munich"]').get_attribute("class").count("s-offline") == 1
        assert page.all('[data-station="NOWHERE"]'), "the list shows every station, with a position or not"
        page.find('#map[data-redrawn="2"]')  # the stream's event redrew the markers from /map/markers
        assert len(page.all(".leaflet-marker-icon")) == 2
        page.screenshot("map-markers")
    finally:
        driver.quit()


def test_a_live_part_refreshes_on_a_stream_event_and_skips_its_polls(console_url: str, calls: list[Any]) -> None:
    driver = start_chromium()
    try:
        page = ConsolePage(driver, console_url, output_dir("console"))
        page.login(ADMIN)
        page.go("/stations")
        page.find('body[data-live="open"][data-live-events="1"][data-live-refreshed="1"]')  # the event's refresh
        seen = len([c for c in calls[0] if c[2] == "/stations"])
        time.sleep(5)  # two poll intervals (2 s) with the stream open: htmx's polls are skipped
        assert len([c for c in calls[0] if c[2] == "/stations"]) == seen, "the open stream replaces polling"
    finally:
        driver.quit()

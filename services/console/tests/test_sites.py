"""Issue 17's second round over fake services: the map from locations, the Locations page, QR codes and prices,
the live stream proxied with the user's key."""

from __future__ import annotations

import re

import httpx
import test_more_pages
from console_fakes import FakeApi
from test_pages import STATION, csrf, login
from voltline_console.domain.sites import location_body, site_markers
from voltline_console.service_layer.ports import ApiAnswer

SITE = test_more_pages.SITE
routes = test_more_pages.routes  # the fake services' answers (a fixture)


def test_markers_are_sites_coloured_by_their_worst_station_and_follow_the_filters() -> None:
    fleet = {"A": {**STATION, "station_id": "A", "connectors": []}, "B": {**STATION, "station_id": "B"}}
    sites = [
        {"location_id": "L1", "name": "One", "coordinates": {"latitude": "1.5", "longitude": "2"},
         "stations": [{"station_id": "A"}, {"station_id": "B"}]},
        {"location_id": "L2", "name": "Two", "coordinates": {"latitude": "3", "longitude": "4"}, "stations": []},
    ]  # fmt: skip
    everything = site_markers(sites, fleet)
    assert [(m["id"], m["state"], m["lat"]) for m in everything] == [("L1", "faulted", 1.5), ("L2", "empty", 3.0)]
    assert [s["state"] for s in everything[0]["stations"]] == ["online", "faulted"]
    only_a = site_markers(sites, fleet, {"A"})
    assert [(m["id"], m["state"], [s["id"] for s in m["stations"]]) for m in only_a] == [("L1", "online", ["A"])]


def test_an_edit_keeps_what_the_form_does_not_show() -> None:
    values = {"location_id": "BER-1", "name": "New name", "address": "A 1", "city": "Berlin", "country": "DEU",
              "latitude": "52.5", "longitude": "13.4", "time_zone": "Europe/Berlin",
              "stations": "CP-1, CP-9 CP-1"}  # fmt: skip
    body = location_body(values, SITE)
    assert body["opening_times"] == {"twentyfourseven": True} and body["facilities"] == ["CAFE"]
    assert body["stations"][1] == "CP-9" and len(body["stations"]) == 2
    assert body["stations"][0]["evses"][0]["connectors"][0]["standard"] == "IEC_62196_T2"
    assert body["coordinates"] == {"latitude": "52.5", "longitude": "13.4"} and body["postal_code"] is None


async def test_the_map_draws_sites_from_locations_and_keeps_the_list(
    browser: httpx.AsyncClient, routes: FakeApi
) -> None:
    await login(browser, "vk_viewer")
    page = (await browser.get("/map")).text
    assert '"id": "BER-1"' in page and '"state": "faulted"' in page and 'data-station="CP-1"' in page
    filtered = (await browser.get("/map", params={"status": "offline"})).text
    assert 'data-map="none"' in filtered and "BER-1" not in filtered  # its one station is not offline
    markers = (await browser.get("/map/markers", params={"status": "Faulted"})).json()
    assert [(m["id"], m["state"]) for m in markers["markers"]] == [("BER-1", "faulted")] and markers["error"] is None
    routes.routes[("diagnostics", "GET", "/locations")] = ApiAnswer(503, {"detail": "diagnostics is down"})
    down = (await browser.get("/map")).text
    assert "diagnostics is down" in down and 'data-station="CP-1"' in down
    assert (await browser.get("/map/markers")).json()["error"] == "diagnostics is down"


async def test_locations_are_created_with_problems_next_to_fields(browser: httpx.AsyncClient, routes: FakeApi) -> None:
    sent = []

    def create(params: object, json: dict[str, object]) -> ApiAnswer:
        sent.append(json)
        if json["coordinates"] == {"latitude": "91", "longitude": "13.4"}:
            errors = [{"field": "body.coordinates.latitude", "message": "Input should be less than or equal to 90"}]
            return ApiAnswer(422, {"detail": "invalid", "errors": errors})
        if "CP-TAKEN" in json["stations"]:
            return ApiAnswer(409, {"detail": "CP-TAKEN belongs to location X", "station_id": "CP-TAKEN"})
        return ApiAnswer(201, json)

    routes.routes[("diagnostics", "POST", "/locations")] = create
    await login(browser, "vk_operator")
    token = csrf((await browser.get("/locations/new")).text)
    form = {"csrf_token": token, "location_id": "BER-2", "name": "Mitte", "address": "A 1", "city": "Berlin",
            "country": "DEU", "latitude": "91", "longitude": "13.4", "time_zone": "Europe/Berlin",
            "stations": "CP-7"}  # fmt: skip
    bad = await browser.post("/locations", data=form)
    assert bad.status_code == 422 and 'id="e-latitude"' in bad.text and "less than or equal to 90" in bad.text
    assert 'aria-invalid="true" aria-describedby="e-latitude"' in bad.text and 'value="Mitte"' in bad.text
    taken = await browser.post("/locations", data={**form, "latitude": "52.5", "stations": "CP-TAKEN"})
    assert taken.status_code == 409 and 'id="e-stations"' in taken.text
    made = await browser.post("/locations", data={**form, "latitude": "52.5"})
    assert made.status_code == 303 and made.headers["location"] == "/locations?saved=BER-2"
    assert sent[-1]["stations"] == ["CP-7"] and sent[-1]["coordinates"]["latitude"] == "52.5"


async def test_an_edit_is_a_put_that_keeps_the_described_evses(browser: httpx.AsyncClient, routes: FakeApi) -> None:
    routes.routes[("diagnostics", "PUT", "/locations/BER-1")] = lambda params, json: ApiAnswer(200, json)
    await login(browser, "vk_operator")
    page = (await browser.get("/locations/BER-1/edit")).text
    assert 'value="Alexanderplatz"' in page and 'value="CP-1"' in page
    fields = dict(re.findall(r'name="([a-z_]+)"[^>]*value="([^"]*)"', page))
    saved = await browser.post("/locations/BER-1/edit", data={**fields, "name": "Alex"})
    assert saved.status_code == 303
    [put] = [c for c in routes.calls if c[1] == "PUT"]
    assert put[5]["name"] == "Alex" and put[5]["location_id"] == "BER-1" and put[5]["stations"][0]["evses"]


async def test_a_viewer_cannot_write_locations(browser: httpx.AsyncClient, routes: FakeApi) -> None:
    await login(browser, "vk_viewer")
    page = await browser.get("/locations")
    assert page.status_code == 200 and "Alexanderplatz" in page.text and "data-action" not in page.text
    refused = await browser.post("/locations", data={"csrf_token": csrf(page.text), "location_id": "X"})
    assert refused.status_code == 403 and not [c for c in routes.calls if c[1] != "GET"]


async def test_qr_codes_are_billings_shown_and_downloadable(browser: httpx.AsyncClient, routes: FakeApi) -> None:
    await login(browser, "vk_viewer")
    shown = await browser.get("/stations/CP-1/evses/1/qr.svg")
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/svg+xml" and "<svg" in shown.text
    assert "content-disposition" not in shown.headers
    download = await browser.get("/stations/CP-1/evses/1/qr.svg", params={"download": "true"})
    assert download.headers["content-disposition"] == 'attachment; filename="qr-CP-1-evse-1.svg"'
    assert (await browser.get("/stations/CP-1/evses/2/qr.svg")).status_code == 502  # billing said 404
    assert [c[3] for c in routes.calls if c[2].endswith("qr.svg")] == ["vk_viewer"] * 3


async def test_the_live_stream_is_diagnostics_with_the_users_key(browser: httpx.AsyncClient, routes: FakeApi) -> None:
    api = routes
    event = b'event: diagnostics.connector_status_changed\ndata: {"station_id": "CP-1"}\n\n'
    api.streams[("diagnostics", "/stream")] = [event]
    await login(browser, "vk_viewer")
    answer = await browser.get("/live", params={"station_id": "CP-1"})
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.text == "retry: 10000\n\n" + event.decode()
    assert ("diagnostics", "STREAM", "/stream", "vk_viewer", {"station_id": "CP-1"}, None) in api.calls
    station = await browser.get("/stations/CP-1")
    assert 'data-live="/live?station_id=CP-1"' in station.text and ', live" hx-swap' in station.text
    await browser.post("/logout", data={"csrf_token": csrf(station.text)})
    assert (await browser.get("/live")).status_code == 303  # no stream without a login

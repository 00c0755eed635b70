"""Issue 17's later pages over fake services: every page renders, actions confirm then send, roles, errors."""

from __future__ import annotations

import re

import httpx
import pytest
from console_fakes import ADMIN, FakeApi
from test_pages import STATION, csrf, login
from voltline_console.service_layer.ports import ApiAnswer

HISTORY = {
    "station_id": "CP-1",
    "from": "2026-12-04T10:00:00Z",
    "to": "2026-12-05T10:00:00Z",
    "items": [
        {
            "evse_id": 1,
            "connector_id": 1,
            "from": "2026-12-04T10:00:00Z",
            "to": "2026-12-05T04:00:00Z",
            "status": "Available",
            "ocpp_status": "Available",
            "error_code": None,
        },
        {
            "evse_id": 1,
            "connector_id": 1,
            "from": "2026-12-05T04:00:00Z",
            "to": None,
            "status": "Faulted",
            "ocpp_status": "Faulted",
            "error_code": "GroundFailure",
        },
    ],
    "presence": [],
}
TARIFF = {
    "tariff_id": "T1",
    "currency": "EUR",
    "version": 2,
    "vat_percent": "20",
    "elements": [{"price_components": [{"type": "ENERGY", "price": "0.40"}, {"type": "FLAT", "price": "1.00"}]}],
}
PAYMENT = {
    "payment_id": "pay_1",
    "session_id": "CP-1:1",
    "state": "paid",
    "method": "card",
    "currency": "EUR",
    "captured": "9.00",
    "refunded": None,
    "refunds": [],
}
TOKEN = {"id_token": "04AABB", "type": "ISO14443", "status": "Accepted", "driver_id": "drv_1"}
SESSION = {
    "session_id": "CP-1:1",
    "station_id": "CP-1",
    "evse_id": 1,
    "connector_id": 1,
    "status": "active",
    "started_at": "2026-12-05T09:00:00Z",
    "energy_wh": 1500,
}
READINGS = {"session_id": "CP-1:1", "energy_wh": 1500, "items": [
    {"at": "2026-12-05T09:00:00Z", "measurand": "Energy.Active.Import.Register", "value": "1000", "unit": "Wh",
     "energy_wh": "0"},
    {"at": "2026-12-05T09:01:00Z", "measurand": "Power.Active.Import", "value": "11000", "unit": "W"},
    {"at": "2026-12-05T09:01:00Z", "measurand": "Energy.Active.Import.Register", "value": "1500", "unit": "Wh",
     "energy_wh": "500"},
]}  # fmt: skip
EMPTY = {"items": [], "next_offset": None}
SITE = {
    "location_id": "BER-1", "name": "Alexanderplatz", "address": "Alexanderplatz 1", "city": "Berlin",
    "postal_code": "10178", "country": "DEU", "coordinates": {"latitude": "52.52", "longitude": "13.4"},
    "time_zone": "Europe/Berlin", "opening_times": {"twentyfourseven": True}, "facilities": ["CAFE"],
    "stations": [{"station_id": "CP-1", "online": True, "price": {"text": "0.42 EUR/kWh (incl. 19% VAT)"},
                  "evses": [{"uid": "CP-1*1", "evse_id": 1, "status": "Faulted", "ocpi_status": "OUTOFORDER",
                             "connectors": [{"connector_id": 1, "standard": "IEC_62196_T2", "format": "SOCKET",
                                             "power_type": "AC_3_PHASE", "max_power_kw": "22"}]}]}],
}  # fmt: skip
ESTIMATE = {"station_id": "CP-1", "evse_id": 1, "energy_kwh": "20", "duration_min": 60, "tariff_id": "STD",
            "tariff_version": 1, "currency": "EUR", "price_text": "0.42 EUR/kWh (incl. 19% VAT)",
            "total_incl_vat": "8.40"}  # fmt: skip


@pytest.fixture
def routes(api: FakeApi) -> FakeApi:
    r = api.routes
    r[("diagnostics", "GET", "/stations")] = {
        "items": [{**STATION, "location": {"latitude": 52.52, "longitude": 13.4}}]
    }
    r[("diagnostics", "GET", "/stations/CP-1/status")] = STATION
    r[("diagnostics", "GET", "/stations/CP-1/history")] = HISTORY
    r[("diagnostics", "GET", "/stations/CP-1/inventory")] = {"station_id": "CP-1", "serial_number": "SN-42"}
    r[("diagnostics", "GET", "/stations/CP-1/device-model")] = EMPTY
    r[("diagnostics", "GET", "/uptime")] = {"station_id": "CP-1", "method": "nevi", "uptime_percent": 97.5,
                                           "outages": []}  # fmt: skip
    for path in ("/alerts", "/commands", "/firmware-campaigns", "/firmware"):
        r[("diagnostics", "GET", path)] = EMPTY
    r[("session", "GET", "/sessions")] = {"items": [SESSION], "next_offset": None}
    r[("session", "GET", "/sessions/CP-1:1")] = SESSION
    r[("session", "GET", "/sessions/CP-1:1/meter-values")] = READINGS
    for path in ("/cdrs", "/invoices", "/refunds"):
        r[("billing", "GET", path)] = EMPTY
    r[("billing", "GET", "/tariffs")] = {"items": [TARIFF], "next_offset": None}
    r[("billing", "GET", "/tariffs/T1")] = TARIFF
    r[("billing", "GET", "/payments")] = {"items": [PAYMENT], "next_offset": None}
    r[("billing", "GET", "/payments/pay_1")] = PAYMENT
    r[("diagnostics", "GET", "/locations")] = {"items": [SITE], "next_offset": None}
    r[("diagnostics", "GET", "/locations/BER-1")] = SITE
    r[("billing", "GET", "/price-estimate")] = ESTIMATE
    r[("billing", "GET", "/stations/CP-1/evses/1/qr.svg")] = ApiAnswer(200, '<svg xmlns="http://www.w3.org/2000/svg"/>')
    r[("auth", "GET", "/drivers")] = {"items": [{"driver_id": "drv_1", "name": "Ada", "email": "ada@example.org"}]}
    r[("auth", "GET", "/id-tokens")] = {"items": [TOKEN], "next_offset": None}
    r[("auth", "GET", "/local-lists")] = EMPTY
    r[("auth", "GET", "/api-keys")] = EMPTY
    r[("auth", "GET", "/audit")] = {"items": [{"at": "2026-12-05T09:00:00Z", "actor": "admin", "action": "x",
                                              "target_type": "k", "target_id": "1", "details": {}}]}  # fmt: skip
    r[("analytics", "GET", "/kpis")] = {"items": [{"bucket_start": "2026-12-05T00:00:00Z", "energy_kwh": "12.5",
                                                  "revenue_incl_vat": "5.00", "utilisation_percent": 10,
                                                  "uptime_percent": 99}]}  # fmt: skip
    return api


PAGES = ["/stations/CP-1", "/sessions/CP-1:1", "/tariffs", "/tariffs/T1/edit", "/cdrs", "/invoices", "/payments",
         "/payments/pay_1", "/drivers", "/local-lists", "/alerts", "/firmware", "/analytics", "/map",
         "/locations", "/locations/new", "/locations/BER-1/edit", "/admin/api-keys", "/admin/audit"]  # fmt: skip


async def test_every_page_renders_for_an_admin(browser: httpx.AsyncClient, routes: FakeApi) -> None:
    await login(browser, ADMIN)
    for path in PAGES:
        page = await browser.get(path)
        assert page.status_code == 200, (path, page.text[:2000])
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
    station = await browser.get("/stations/CP-1")
    assert 'data-status="Faulted"' in station.text and "<rect" in station.text and "97.5" in station.text
    assert 'data-action="unlock"' in station.text and 'data-action="firmware"' in station.text
    assert "0.42 EUR/kWh" in station.text and 'src="/stations/CP-1/evses/1/qr.svg"' in station.text
    assert '"lat": 52.52' in (await browser.get("/map")).text
    points = (await browser.get("/sessions/CP-1:1/points")).json()
    assert points["power_kw"][-1] == 11.0 and points["energy_kwh"][-1] == 0.5 and points["status"] == "active"


async def test_a_viewer_sees_no_write_action_on_any_page(browser: httpx.AsyncClient, routes: FakeApi) -> None:
    await login(browser, "vk_viewer")
    for path in PAGES:
        page = await browser.get(path)
        if path.startswith(("/admin", "/tariffs/T1/edit", "/locations/new", "/locations/BER-1/edit")):
            assert page.status_code == 403, path
            continue
        assert page.status_code == 200, path
        assert not re.search(r'data-action="(?!csv)', page.text), path
    assert "/admin/" not in (await browser.get("/drivers")).text  # no Admin menu
    page = await browser.get("/drivers")
    blocked = await browser.post("/id-tokens/04AABB/block", data={"csrf_token": csrf(page.text)})
    assert blocked.status_code == 403
    assert not [c for c in routes.calls if c[1] != "GET"]


async def test_an_action_is_checked_here_then_confirmed_and_sent(browser: httpx.AsyncClient, routes: FakeApi) -> None:
    answer = {"command_id": "c1", "status": "Accepted", "response": {"status": "Unlocked"}}
    routes.routes[("diagnostics", "POST", "/stations/CP-1/commands/unlock")] = ApiAnswer(200, answer)
    await login(browser, "vk_operator")
    form = await browser.get("/stations/CP-1/actions/unlock", headers={"HX-Request": "true"})
    assert 'data-action="confirm-unlock"' in form.text and "<html" not in form.text
    assert 'hx-get="/stations/CP-1/actions/cancel"' in form.text and 'hx-swap="delete"' not in form.text
    cancelled = await browser.get("/stations/CP-1/actions/cancel", headers={"HX-Request": "true"})
    assert cancelled.status_code == 200 and cancelled.text == ""  # #action stays, emptied, for the next action
    token = csrf(form.text)
    wrong = await browser.post("/stations/CP-1/actions/unlock", data={"connector_id": "one", "csrf_token": token})
    assert wrong.status_code == 422 and 'id="e-connector_id">a whole number<' in wrong.text
    assert not [c for c in routes.calls if c[1] == "POST"]
    done = await browser.post("/stations/CP-1/actions/unlock", data={"connector_id": "1", "csrf_token": token})
    assert 'data-command-status="Accepted"' in done.text and "Unlocked" in done.text
    assert routes.calls[-1][1:3] == ("POST", "/stations/CP-1/commands/unlock") and routes.calls[-1][5] == {
        "connector_id": 1
    }


async def test_configuration_keys_can_be_edited_from_the_answer(browser: httpx.AsyncClient, routes: FakeApi) -> None:
    keys = {"configurationKey": [{"key": "HeartbeatInterval", "value": "300", "readonly": False}]}
    routes.routes[("diagnostics", "POST", "/stations/CP-1/commands/get-configuration")] = ApiAnswer(
        200, {"command_id": "c2", "status": "Accepted", "response": keys}
    )
    await login(browser, "vk_operator")
    form = await browser.get("/stations/CP-1/actions/get-configuration")
    answer = await browser.post("/stations/CP-1/actions/get-configuration", data={"csrf_token": csrf(form.text)})
    assert "HeartbeatInterval" in answer.text and "set-configuration?key=HeartbeatInterval&value=300" in answer.text
    edit = await browser.get("/stations/CP-1/actions/set-configuration?key=HeartbeatInterval&value=300")
    assert 'value="HeartbeatInterval"' in edit.text and 'data-action="confirm-set-configuration"' in edit.text


async def test_tariff_edit_previews_the_price_and_shows_billings_422(browser: httpx.AsyncClient, routes: FakeApi):
    problem = {"detail": "bad", "errors": [{"field": "body.energy_price_per_kwh", "message": "too many decimals"}]}
    routes.routes[("billing", "PUT", "/tariffs/T1")] = ApiAnswer(422, problem)
    await login(browser, "vk_operator")
    page = await browser.get("/tariffs/T1/edit")
    # 20 kWh at 0.40 + 1.00 fee = 9.00, VAT 20 % = 1.80: 10.80
    assert 'data-preview-total="10.80"' in page.text and 'value="0.40"' in page.text
    data = {"csrf_token": csrf(page.text), "currency": "EUR", "energy_price_per_kwh": "0.5", "session_fee": "",
            "example_kwh": "10", "example_minutes": "30", "example_idle_minutes": "0"}  # fmt: skip
    again = await browser.post("/tariffs/T1/preview", data=data, headers={"HX-Request": "true"})
    assert 'data-preview-total="5.00"' in again.text  # no VAT typed: 10 kWh at 0.50
    saved = await browser.post("/tariffs/T1", data={**data, "energy_price_per_kwh": "0.123456"})
    assert saved.status_code == 422 and 'id="e-energy_price_per_kwh">too many decimals<' in saved.text


async def test_a_refund_asks_for_confirmation_first(browser: httpx.AsyncClient, routes: FakeApi) -> None:
    refund = {"refund_id": "r1", "payment_id": "pay_1", "amount": "2.00", "currency": "EUR", "state": "succeeded"}
    routes.routes[("billing", "POST", "/payments/pay_1/refunds")] = ApiAnswer(201, refund)
    await login(browser, "vk_operator")
    page = await browser.get("/payments/pay_1")
    token = csrf(page.text)
    confirm = await browser.post("/payments/pay_1/refund", data={"amount": "2.00", "reason": "x", "csrf_token": token})
    assert 'data-action="confirm-refund"' in confirm.text and not [c for c in routes.calls if c[1] == "POST"]
    done = await browser.post(
        "/payments/pay_1/refund", data={"amount": "2.00", "reason": "x", "confirm": "yes", "csrf_token": token}
    )
    assert done.status_code == 201 and 'data-refund-state="succeeded"' in done.text
    problem = {"detail": "too much", "errors": [{"field": "body.amount", "message": "more than was captured"}]}
    routes.routes[("billing", "POST", "/payments/pay_1/refunds")] = ApiAnswer(422, problem)
    refused = await browser.post(
        "/payments/pay_1/refund", data={"amount": "99", "reason": "", "confirm": "yes", "csrf_token": token}
    )
    assert refused.status_code == 422 and 'id="e-amount">more than was captured<' in refused.text
    assert 'value="99"' in refused.text  # what was typed is kept
    assert ("billing", "POST", "/payments/pay_1/refunds", "vk_operator", None, {"amount": "2.00", "reason": "x"}) in (
        routes.calls
    )


async def test_blocking_a_card_and_resolving_an_alert(browser: httpx.AsyncClient, routes: FakeApi) -> None:
    routes.routes[("auth", "PATCH", "/id-tokens/04AABB")] = {**TOKEN, "status": "Blocked"}
    problem = {"detail": "note required", "errors": [{"field": "body.note", "message": "required"}]}
    routes.routes[("diagnostics", "POST", "/alerts/a1/resolve")] = lambda params, body: (
        ApiAnswer(422, problem) if not body["note"] else {"alert_id": "a1", "status": "resolved", "note": body["note"]}
    )
    await login(browser, "vk_operator")
    page = await browser.get("/drivers")
    assert 'data-action="block"' in page.text
    blocked = await browser.post(
        "/id-tokens/04AABB/block",
        data={"csrf_token": csrf(page.text), "type": "ISO14443"},
        headers={"HX-Request": "true"},
    )
    assert 'data-token-status="Blocked"' in blocked.text and 'data-action="block"' not in blocked.text
    assert ("auth", "PATCH", "/id-tokens/04AABB", "vk_operator", {"type": "ISO14443"}, {"status": "Blocked"}) in (
        routes.calls
    )
    empty = await browser.post("/alerts/a1/resolve", data={"csrf_token": csrf(page.text), "note": ""})
    assert empty.status_code == 422 and 'id="e-note-a1">required<' in empty.text
    done = await browser.post("/alerts/a1/resolve", data={"csrf_token": csrf(page.text), "note": "cable replaced"})
    assert "s-resolved" in done.text and "<q data-note>cable replaced</q>" in done.text


async def test_an_api_key_is_shown_once_and_revoked_after_confirmation(browser: httpx.AsyncClient, routes: FakeApi):
    routes.routes[("auth", "POST", "/api-keys")] = ApiAnswer(201, {"key_id": "k1", "name": "ops", "role": "viewer",
                                                                   "key": "vk_secret_once"})  # fmt: skip
    routes.routes[("auth", "DELETE", "/api-keys/k1")] = {"key_id": "k1", "revoked_at": "2026-12-05T10:00:00Z"}
    await login(browser, ADMIN)
    page = await browser.get("/admin/api-keys")
    created = await browser.post(
        "/admin/api-keys", data={"csrf_token": csrf(page.text), "name": "ops", "role": "viewer"}
    )
    assert created.status_code == 201 and "vk_secret_once" in created.text
    assert "vk_secret_once" not in (await browser.get("/admin/api-keys")).text
    confirm = await browser.post("/admin/api-keys/k1/revoke", data={"csrf_token": csrf(page.text)})
    assert "Key k1 revoked" not in confirm.text and not [c for c in routes.calls if c[1] == "DELETE"]
    routes.routes[("auth", "GET", "/api-keys")] = {"items": [{"key_id": "k1", "name": "ops", "role": "viewer"}]}
    confirm = await browser.post("/admin/api-keys/k1/revoke", data={"csrf_token": csrf(page.text)})
    assert 'data-action="confirm-revoke"' in confirm.text
    done = await browser.post("/admin/api-keys/k1/revoke", data={"csrf_token": csrf(page.text), "confirm": "yes"})
    assert "Key k1 revoked" in done.text


async def test_analytics_csv_is_passed_through(browser: httpx.AsyncClient, routes: FakeApi) -> None:
    routes.routes[("analytics", "GET", "/kpis")] = lambda params, body: (
        ApiAnswer(200, "bucket_start,sessions\n2026-12-05,3\n") if params.get("format") == "csv" else EMPTY
    )
    await login(browser, "vk_viewer")
    answer = await browser.get("/analytics/kpis.csv?days=7")
    assert answer.status_code == 200 and answer.text.startswith("bucket_start,sessions")
    assert (
        answer.headers["content-type"].startswith("text/csv") and "attachment" in answer.headers["content-disposition"]
    )


async def test_firmware_campaigns_show_their_progress_and_refresh_alone(browser: httpx.AsyncClient, routes: FakeApi):
    campaign = {"campaign_id": "fw_1", "firmware_id": "acme-2.0", "status": "running", "canary_size": 1,
                "batch_size": 10, "failure_threshold_percent": "20", "created_by": "admin",
                "progress": {"pending": 2, "succeeded": 1, "failed": 1}}  # fmt: skip
    routes.routes[("diagnostics", "GET", "/firmware-campaigns")] = {"items": [campaign]}
    await login(browser, "vk_viewer")
    page = await browser.get("/firmware")
    assert '<progress max="4" value="2"' in page.text and 'hx-get="/firmware/campaigns"' in page.text
    part = await browser.get("/firmware/campaigns", headers={"HX-Request": "true"})
    assert "<html" not in part.text and 'data-campaign="fw_1"' in part.text


async def test_a_card_is_put_on_a_local_list_and_an_unknown_one_refused_next_to_the_field(
    browser: httpx.AsyncClient, routes: FakeApi
) -> None:
    routes.routes[("auth", "GET", "/local-lists/L1/entries")] = {"items": [TOKEN]}
    routes.routes[("auth", "PUT", "/local-lists/L1/entries/NEWCARD")] = {"list_id": "L1", "version": 3}
    routes.routes[("auth", "PUT", "/local-lists/L1/entries/NOPE")] = ApiAnswer(404, {"detail": "No such id token."})
    await login(browser, "vk_operator")
    page = await browser.get("/local-lists?list_id=L1")
    assert 'data-entry="04AABB"' in page.text and 'data-action="add-entry"' in page.text
    added = await browser.post("/local-lists/L1/entries", data={"csrf_token": csrf(page.text), "id_token": "NEWCARD"})
    assert added.status_code == 200 and 'data-changed="added"' in added.text
    refused = await browser.post("/local-lists/L1/entries", data={"csrf_token": csrf(page.text), "id_token": "NOPE"})
    assert refused.status_code == 404 and 'id="e-id_token">No such id token.<' in refused.text
    assert 'value="NOPE"' in refused.text

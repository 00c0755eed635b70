"""The console's pages over fake services: login, cookie, CSRF, roles, live fragments, problems next to fields."""

from __future__ import annotations

import re

import httpx
from console_fakes import ADMIN, FakeApi
from voltline_console.service_layer.ports import ApiAnswer

STATION = {
    "station_id": "CP-1", "online": True, "health": "online", "since": "2026-12-05T08:00:00Z",
    "last_seen_at": "2026-12-05T09:00:00Z", "ocpp_version": "1.6", "vendor": "ACME", "model": "Volt-22",
    "firmware_version": "1.0.0", "station_status": None,
    "connectors": [{"evse_id": 1, "connector_id": 1, "status": "Faulted", "ocpp_status": "Faulted",
                    "error_code": "GroundFailure", "since": "2026-12-05T09:00:00Z"}],
}  # fmt: skip


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def login(client: httpx.AsyncClient, token: str) -> httpx.Response:
    form = await client.get("/login")
    return await client.post("/login", data={"token": token, "csrf_token": csrf(form.text), "next": "/"})


async def test_pages_need_a_login_and_the_cookie_is_httponly_strict(browser: httpx.AsyncClient) -> None:
    first = await browser.get("/stations")
    assert first.status_code == 303 and first.headers["location"] == "/login?next=/stations"
    answer = await login(browser, ADMIN)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert "voltline_console=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert ADMIN not in cookie  # the key stays server-side


async def test_a_wrong_key_is_refused_next_to_the_field(browser: httpx.AsyncClient) -> None:
    answer = await login(browser, "vk_nobody")
    assert answer.status_code == 401
    assert 'id="token-error"' in answer.text and "not valid" in answer.text
    assert "voltline_console=" not in answer.headers.get("set-cookie", "")


async def test_login_without_its_form_token_is_refused(browser: httpx.AsyncClient) -> None:
    answer = await browser.post("/login", data={"token": ADMIN, "csrf_token": "forged"})
    assert answer.status_code == 400


async def test_forms_without_the_csrf_token_do_nothing(browser: httpx.AsyncClient, api: FakeApi) -> None:
    await login(browser, ADMIN)
    answer = await browser.post("/stations/CP-1/reset", data={"type": "soft"})
    assert answer.status_code == 403
    assert not [c for c in api.calls if c[1] == "POST"]


async def test_reset_is_confirmed_then_sent_with_the_users_key(browser: httpx.AsyncClient, api: FakeApi) -> None:
    api.routes[("diagnostics", "GET", "/stations/CP-1/status")] = STATION
    api.routes[("diagnostics", "POST", "/stations/CP-1/commands/reset")] = ApiAnswer(
        200, {"command_id": "c1", "status": "accepted", "response": {"status": "Accepted"}}
    )
    await login(browser, "vk_operator")
    page = await browser.get("/stations/CP-1")
    assert 'data-action="reset-soft"' in page.text and "GroundFailure" in page.text
    confirm = await browser.get("/stations/CP-1/reset?type=soft", headers={"HX-Request": "true"})
    assert 'data-action="confirm-reset"' in confirm.text and "<html" not in confirm.text  # a fragment
    done = await browser.post(
        "/stations/CP-1/reset", data={"type": "soft", "csrf_token": csrf(confirm.text)}, headers={"HX-Request": "true"}
    )
    assert 'data-command-status="accepted"' in done.text
    assert ("diagnostics", "POST", "/stations/CP-1/commands/reset", "vk_operator", None, {"type": "soft"}) in api.calls


async def test_a_viewer_sees_no_write_buttons_and_cannot_post(browser: httpx.AsyncClient, api: FakeApi) -> None:
    api.routes[("diagnostics", "GET", "/stations/CP-1/status")] = STATION
    api.routes[("billing", "GET", "/tariffs")] = {"items": [], "next_offset": None}
    await login(browser, "vk_viewer")
    page = await browser.get("/stations/CP-1")
    assert "data-action" not in page.text and "GroundFailure" in page.text
    tariffs = await browser.get("/tariffs")
    assert "Create tariff" not in tariffs.text
    posted = await browser.post("/stations/CP-1/reset", data={"type": "hard", "csrf_token": csrf(page.text)})
    assert posted.status_code == 403
    assert not [c for c in api.calls if c[1] == "POST"]


async def test_the_billing_services_422_is_shown_next_to_the_field(browser: httpx.AsyncClient, api: FakeApi) -> None:
    problem = {"status": 422, "detail": "body.currency: not a currency",
               "errors": [{"field": "body.currency", "message": "not an ISO 4217 currency"}]}  # fmt: skip
    api.routes[("billing", "GET", "/tariffs")] = {"items": [], "next_offset": None}
    api.routes[("billing", "POST", "/tariffs")] = ApiAnswer(422, problem)
    await login(browser, "vk_operator")
    page = await browser.get("/tariffs")
    answer = await browser.post(
        "/tariffs",
        data={"tariff_id": "T1", "currency": "XX", "energy_price_per_kwh": "0.3", "csrf_token": csrf(page.text)},
    )
    assert answer.status_code == 422
    assert re.search(r'id="e-currency">not an ISO 4217 currency<', answer.text)
    assert 'value="T1"' in answer.text  # what was typed is kept


async def test_live_rows_and_an_unreachable_service_costs_only_its_panel(
    browser: httpx.AsyncClient, api: FakeApi
) -> None:
    api.routes[("diagnostics", "GET", "/stations")] = {"items": [STATION]}
    api.routes[("session", "GET", "/sessions")] = ApiAnswer(503, {"detail": "The session service cannot be reached."})
    api.routes[("diagnostics", "GET", "/alerts")] = {"items": []}
    today = {"sessions": 2, "energy_kwh": "1.5", "revenue_incl_vat": "0.60", "currency": "EUR"}
    api.routes[("analytics", "GET", "/kpis")] = {"items": [today]}
    await login(browser, ADMIN)
    overview = await browser.get("/")
    assert overview.status_code == 200
    assert "The session service cannot be reached." in overview.text and "1.5 kWh" in overview.text
    rows = await browser.get("/stations/rows?status=Faulted", headers={"HX-Request": "true"})
    assert 'data-status="Faulted"' in rows.text and "<html" not in rows.text
    none = await browser.get("/stations/rows?status=Available", headers={"HX-Request": "true"})
    assert "CP-1" not in none.text


async def test_a_revoked_key_ends_the_session(browser: httpx.AsyncClient, api: FakeApi) -> None:
    api.routes[("session", "GET", "/sessions")] = ApiAnswer(401, {"detail": "Invalid token."})
    await login(browser, ADMIN)
    answer = await browser.get("/sessions")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    again = await browser.get("/stations")
    assert again.status_code == 303


async def test_logout_ends_the_session(browser: httpx.AsyncClient, api: FakeApi) -> None:
    api.routes[("diagnostics", "GET", "/stations")] = {"items": []}
    await login(browser, ADMIN)
    page = await browser.get("/stations")
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    out = await browser.post("/logout", data={"csrf_token": csrf(page.text)})
    assert out.status_code == 303
    assert (await browser.get("/stations")).status_code == 303


async def test_static_htmx_is_served(browser: httpx.AsyncClient) -> None:
    answer = await browser.get("/static/vendor/htmx-2.0.11/htmx.min.js")
    assert answer.status_code == 200 and answer.text.startswith("var htmx=")


async def test_a_poll_after_the_session_ended_sends_htmx_to_the_login_page(browser: httpx.AsyncClient) -> None:
    answer = await browser.get("/stations/rows", headers={"HX-Request": "true"})
    assert answer.status_code == 200 and answer.headers["HX-Redirect"] == "/login"


async def test_without_javascript_the_reset_steps_are_whole_pages(browser: httpx.AsyncClient, api: FakeApi) -> None:
    api.routes[("diagnostics", "POST", "/stations/CP-1/commands/reset")] = ApiAnswer(
        409, {"detail": "The station is offline.", "code": "station_offline"}
    )
    await login(browser, "vk_operator")
    confirm = await browser.get("/stations/CP-1/reset?type=hard")
    assert "<html" in confirm.text and 'name="type" value="hard"' in confirm.text
    done = await browser.post("/stations/CP-1/reset", data={"type": "hard", "csrf_token": csrf(confirm.text)})
    assert "<html" in done.text and "The station is offline." in done.text

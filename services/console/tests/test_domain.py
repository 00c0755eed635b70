"""The console's pure rules: fleet summaries, day totals, roles, and when a login ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from console_fakes import FakeKeys
from voltline_console.adapters.sessions import MemorySessionStore
from voltline_console.domain.fleet import day_totals, summarise
from voltline_console.domain.login import Capabilities, strongest_role
from voltline_console.service_layer.login import LoginService


def test_summary_counts_every_known_status_and_keeps_unexpected_ones() -> None:
    fleet = [
        {"health": "online", "connectors": [{"status": "Faulted"}, {"status": "Available"}]},
        {"online": False, "connectors": [{"status": "Occupied"}, {"status": None}]},
        {"health": "maintenance", "connectors": []},
    ]
    summary = summarise(fleet)
    assert summary.stations == 3
    assert summary.by_health == {"online": 1, "unresponsive": 0, "offline": 1, "maintenance": 1}
    assert summary.connectors_by_status["Faulted"] == 1 and summary.connectors_by_status["Unknown"] == 1
    assert summary.connectors_by_status["Reserved"] == 0


def test_day_totals_add_decimal_strings_exactly() -> None:
    totals = day_totals([{"sessions": 1, "energy_kwh": "0.1", "revenue_incl_vat": "0.10", "currency": "EUR"}] * 3)
    assert totals == type(totals)(3, Decimal("0.3"), Decimal("0.30"), "EUR")


def test_roles() -> None:
    assert strongest_role(frozenset({"viewer", "operator"})) == "operator"
    assert strongest_role(frozenset({"driver"})) is None
    assert Capabilities.of("viewer") == Capabilities(write=False, admin=False)
    assert Capabilities.of("operator").write and not Capabilities.of("operator").admin


async def test_a_login_ends_when_idle_or_too_old() -> None:
    now = [datetime(2026, 12, 5, 8, tzinfo=UTC)]
    logins = LoginService(
        FakeKeys(), MemorySessionStore(10), idle=timedelta(hours=1), max_age=timedelta(hours=2), clock=lambda: now[0]
    )
    session = await logins.login(" vk_viewer ")
    now[0] += timedelta(minutes=50)
    assert await logins.current(session.session_id) is session  # and the idle clock starts again
    now[0] += timedelta(minutes=50)
    assert await logins.current(session.session_id) is session
    now[0] += timedelta(minutes=30)  # 2 h 10 min after login
    assert await logins.current(session.session_id) is None


async def test_the_store_drops_the_least_recently_used_login() -> None:
    logins = LoginService(FakeKeys(), MemorySessionStore(2), idle=timedelta(hours=1), max_age=timedelta(hours=2))
    first, second = await logins.login("vk_viewer"), await logins.login("vk_viewer")
    await logins.current(first.session_id)
    await logins.login("vk_operator")
    assert await logins.current(second.session_id) is None and await logins.current(first.session_id) is first

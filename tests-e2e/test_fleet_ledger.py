"""A small fleet doing what real stations do (reboots, late readings, refused starts, quirky meters and card
types) against the whole system: no session stays active, and every session's energy is its CDR's."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from e2e_support import RunningSystem, start_system
from fleet_scenario import expected_energy_wh, expected_sessions, plan, prepare, run_station, settle

STATIONS = 8
PREFIX = "FLEET-"
SESSION_ENV = {
    "VOLTLINE_SESSION_CONFIRM_GRACE_S": "4",
    "VOLTLINE_SESSION_SUSPECT_CHECK_INTERVAL_S": "0.5",
    "VOLTLINE_SESSION_END_GRACE_S": "5",
}


@pytest.fixture(scope="module")
def system(kafka: Any, postgres: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    yield from start_system(kafka, postgres, tmp_path_factory.mktemp("fleet"), extra_env={"session": SESSION_ENV})


def client(system: RunningSystem, service: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=system.url(service), headers=system.headers, timeout=60)


async def test_a_fleet_leaves_no_stale_session_and_no_energy_mismatch(system: RunningSystem) -> None:
    stations = plan(STATIONS, PREFIX)
    async with (
        client(system, "auth") as auth,
        client(system, "billing") as billing,
        client(system, "session") as sessions,
    ):
        await prepare(auth, billing, [s[0] for s in stations], {s[0]: s[2] for s in stations})
        await asyncio.gather(*(run_station(system.ocpp_url, *s) for s in stations))
        figures = await settle(sessions, billing, PREFIX, expected_sessions(STATIONS), within=120)
    print(figures.as_dict())
    assert (figures.sessions, figures.stale_active) == (expected_sessions(STATIONS), 0), figures.as_dict()
    assert (figures.completed_without_cdr, figures.mismatches) == (0, 0), figures.as_dict()
    assert (figures.meter_anomalies, figures.idle_s) == (0, 0), figures.as_dict()
    assert figures.energy_wh == expected_energy_wh(STATIONS)
    endings = figures.endings
    assert endings["voltline:NotAuthorized"] == STATIONS  # every refused start
    assert endings["station:EVDisconnected"] + endings.get("station:Local", 0) == STATIONS + STATIONS // 2
    assert endings["voltline:StationRebooted"] == STATIONS  # every crashed session, checked or reused

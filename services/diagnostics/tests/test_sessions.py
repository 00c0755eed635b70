"""Alerts from the session service's events: a connector that does not charge, a session stuck charging."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from diagnostics_testing import RunningDiagnostics, eventually
from voltline_events import Event, envelope_for, station_key
from voltline_events.payloads import SessionEnded, SessionStarted, SessionUpdated

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def session_event(service: RunningDiagnostics, station_id: str, event: Event) -> None:
    envelope = envelope_for(event, source="session/test", station_id=station_id)
    await service.producer.publish(service.topics.sessions, envelope, key=station_key(station_id))


def ended(station_id: str, session_id: str, energy_wh: int) -> SessionEnded:
    now = datetime.now(UTC)
    return SessionEnded(
        session_id=session_id,
        station_id=station_id,
        evse_id=1,
        connector_id=1,
        started_at=now,
        ended_at=now,
        energy_wh=energy_wh,
    )


async def test_three_sessions_in_a_row_without_energy_then_one_that_charges(service: RunningDiagnostics) -> None:
    cp = service.station("CP-DUD")
    await cp.connect()
    await cp.status(0, "Available", connector_id=1)

    async def known() -> bool:
        view = await service.status("CP-DUD")
        return bool(view and view["connectors"])

    await eventually(known, what="CP-DUD's connector")  # session events travel on another topic
    for n, wh in enumerate([20, 0, 99]):
        await session_event(service, "CP-DUD", ended("CP-DUD", f"dud-{n}", wh))
    alert = await service.wait_alert("CP-DUD", "connector_not_charging")
    assert (alert["evse_id"], alert["connector_id"], alert["detail"]["sessions_in_a_row"]) == (1, 1, 3)
    await session_event(service, "CP-DUD", ended("CP-DUD", "good", 12_000))
    await service.wait_alert("CP-DUD", "connector_not_charging", "resolved")


async def test_a_session_charging_without_meter_progress_is_stuck_until_energy_grows(
    service: RunningDiagnostics,
) -> None:
    sid, session_id = "CP-STUCK", "stuck-1"
    now = datetime.now(UTC)
    started = SessionStarted(session_id=session_id, station_id=sid, evse_id=1, connector_id=1, started_at=now)
    await session_event(service, sid, started)

    def update(wh: int) -> Any:
        return SessionUpdated(
            session_id=session_id, station_id=sid, energy_wh=wh, at=datetime.now(UTC), charging_state="charging"
        )

    await session_event(service, sid, update(500))
    alert = await service.wait_alert(sid, "session_stuck")
    assert (alert["subject"], alert["detail"]["energy_wh"]) == (session_id, 500)
    await session_event(service, sid, update(900))
    await service.wait_alert(sid, "session_stuck", "resolved")
    await session_event(service, sid, ended(sid, session_id, 900))

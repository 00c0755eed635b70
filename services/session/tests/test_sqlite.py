"""The embedded default store (SQLite, as under `make run`) runs the same session logic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_session_support import ADMIN, energy, run_service, types, wait_session


async def test_a_session_with_duplicates_statuses_a_reconciled_stop_and_a_close_on_sqlite(
    kafka: Any, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/session.db"
    async for service in run_service(kafka, url, session_suspect_after_s=2, session_suspect_check_interval_s=0.3):
        cp = service.station("CP-LITE")
        await cp.connect()
        await cp.tx("started", "11", 0, connector_id=1, id_tag="CARD-L", meter_start_wh=500)
        await cp.status(0, "Charging")
        update = await cp.tx("updated", "11", 10, meter_values=[energy(10, 2_500)])
        await cp.publish(update)
        await cp.status(20, "SuspendedEV")
        await cp.tx("ended", "11", 30, meter_stop_wh=3_000)
        first = await wait_session(service.api, ADMIN, "CP-LITE", lambda s: s["status"] == "completed")
        details = (await service.api.get(f"/api/v1/sessions/{first['session_id']}", headers=ADMIN)).json()
        assert details["energy_wh"] == 2_500
        periods = [(p["state"], p["energy_wh"]) for p in details["periods"]]
        assert periods == [("charging", 2_500), ("suspended_ev", 0)]

        other = service.station("CP-LITE-2")
        await other.tx("ended", "77", 60, meter_stop_wh=9_000, meter_values=[energy(0, 8_000, "Transaction.Begin")])
        reconciled = await wait_session(service.api, ADMIN, "CP-LITE-2", lambda s: s["status"] == "completed")
        assert (reconciled["energy_wh"], reconciled["reconciled"]) == (1_000, True)

        silent = service.station("CP-LITE-3")
        await silent.tx("started", "5", 0, connector_id=1, meter_start_wh=100)
        session = await wait_session(service.api, ADMIN, "CP-LITE-3", lambda s: s["suspect"])
        closed = await service.api.post(f"/api/v1/sessions/{session['session_id']}/close", headers=ADMIN)
        assert closed.status_code == 200 and closed.json()["stop_reason"] == "ClosedByOperator"
        events = await service.events.wait(session["session_id"], lambda e: "session.ended" in types(e))
        assert types(events) == ["session.started", "session.ended"]

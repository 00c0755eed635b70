"""The decision log is written in batches and stays bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from voltline_auth.adapters.unit_of_work import SqlAuthUnitOfWork as AuthUnitOfWork
from voltline_auth.bootstrap import MIGRATIONS
from voltline_auth.service_layer.decisions import DecisionRecorder
from voltline_auth.service_layer.housekeeping import Housekeeping
from voltline_store import create_engine, run_migrations, session_factory

NOW = datetime.now(UTC)


def row(at: datetime, station_id: str) -> dict[str, Any]:
    return {
        "at": at,
        "station_id": station_id,
        "id_token_key": "T",
        "token_type": "ISO14443",
        "purpose": "authorize",
        "ocpp_version": "ocpp1.6",
        "status": "Accepted",
        "reason": "accepted",
        "driver_id": None,
        "evse_id": None,
        "transaction_id": None,
    }


async def test_decisions_are_batched_and_old_ones_purged(sqlite_url: str) -> None:
    await run_migrations(sqlite_url, MIGRATIONS)
    engine = create_engine(sqlite_url)
    sessions = session_factory(engine)
    try:
        recorder = DecisionRecorder(lambda: AuthUnitOfWork(sessions), lambda: NOW, retention=timedelta(days=30))
        recorder.record(row(NOW - timedelta(days=31), "CP-OLD"))
        recorder.record(row(NOW, "CP-NEW"))
        await recorder.flush()
        async with AuthUnitOfWork(sessions) as uow:
            assert {r["station_id"] for r in await uow.decisions.list()} == {"CP-OLD", "CP-NEW"}
        assert await Housekeeping([("decision_log", recorder.purge)]).run_once() == {"decision_log": 1}
        async with AuthUnitOfWork(sessions) as uow:
            assert [r["station_id"] for r in await uow.decisions.list()] == ["CP-NEW"]
            assert await uow.decisions.stations_that_accepted("T", NOW - timedelta(days=1)) == ["CP-NEW"]
    finally:
        await engine.dispose()

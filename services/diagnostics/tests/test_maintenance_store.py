"""The maintenance tables on both stores (SQLite as under `make run`, PostgreSQL): migrations, upserts and the
conditional updates the services rely on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from voltline_diagnostics.adapters.command_records import CommandRecord, CommandRecords
from voltline_diagnostics.adapters.firmware_records import Campaign, FirmwareRecords, TargetRow
from voltline_diagnostics.adapters.maintenance_store import sql_maintenance_store
from voltline_diagnostics.adapters.profile_records import ProfileRecords
from voltline_diagnostics.adapters.security_events import SecurityEvent, SecurityEvents
from voltline_store import create_engine, run_migrations, session_factory

MIGRATIONS = Path(__file__).resolve().parents[1] / "src" / "voltline_diagnostics" / "migrations"
NOW = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    return sqlite_url if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))


async def test_records_upserts_and_conditional_updates(url: str) -> None:
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    sessions = session_factory(engine)
    try:
        async with sessions() as db:
            command = CommandRecord(
                "c-1", "CP-1", "reset", {"type": "soft"}, "ocpp1.6", "Reset", {"type": "Soft"}, "sent", None, None,
                False, "bootstrap-admin", None, NOW - timedelta(hours=1), NOW - timedelta(hours=1), None,
            )  # fmt: skip
            await CommandRecords(db).add(command)
            firmware = FirmwareRecords(db)
            await firmware.booted("CP-1", "ACME", "X", "1.0", NOW)
            await firmware.connector("CP-1", "1", "Charging")
            await firmware.booted("CP-1", "ACME", "X", "1.1", NOW)
            campaign = Campaign("k-1", "fw", "running", 1, 2, Decimal("20.00"), 1, 60, False, None, "a", NOW, NOW)
            target = TargetRow("k-1", "CP-1", "pending", 0, None, None, "1.0", None, None, None, None)
            await firmware.add_campaign(campaign, [target])
            profiles = ProfileRecords(db)
            await profiles.report("CP-1", {"HeartbeatInterval": ("300", False)}, NOW)
            await profiles.report("CP-1", {"HeartbeatInterval": ("600", True)}, NOW)
            event = SecurityEvent("e-1", "CP-1", "FirmwareUpdated", None, NOW, NOW)
            await SecurityEvents(db).add(event)
            await SecurityEvents(db).add(event)  # a redelivery
            await db.commit()
        async with sessions() as db:
            firmware = FirmwareRecords(db)
            station = await firmware.station("CP-1")
            assert station is not None and (station.firmware_version, station.connectors) == ("1.1", {"1": "Charging"})
            assert await firmware.set_target("k-1", "CP-1", only_in=("pending",), state="sent")
            assert not await firmware.set_target("k-1", "CP-1", only_in=("pending",), state="sent")
            assert (await firmware.campaign("k-1")).failure_threshold_percent == Decimal("20.00")  # type: ignore[union-attr]
            assert await ProfileRecords(db).reported("CP-1") == {"HeartbeatInterval": ("600", True)}
            await ProfileRecords(db).rebooted("CP-1")
            assert await ProfileRecords(db).reported("CP-1") == {"HeartbeatInterval": ("600", False)}
            assert len(await SecurityEvents(db).find("CP-1", 10, 0)) == 1
            assert await CommandRecords(db).abandon_stale(NOW - timedelta(minutes=1), NOW, NOW) == 1
            assert (await CommandRecords(db).get("c-1")).status == "failed"  # type: ignore[union-attr]
            await db.commit()
    finally:
        await engine.dispose()


async def test_connector_statuses_of_a_batch_are_written_once_at_its_end(url: str) -> None:
    from voltline_diagnostics.service_layer.campaigns import CampaignService

    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    sessions = session_factory(engine)
    try:
        campaigns = CampaignService.__new__(CampaignService)  # only connector_status and status_batch are used
        campaigns._sessions = sql_maintenance_store(sessions)
        await campaigns.connector_status("CP-B", "1", "Available")  # outside a batch: written at once
        scope = campaigns.status_batch()
        async with scope([]):
            for status in ("Preparing", "Charging"):
                await campaigns.connector_status("CP-B", "1", status)
            await campaigns.connector_status("CP-B", "2", "Faulted")
            await campaigns.connector_status("CP-C", "1", "Available")
            async with sessions() as db:  # nothing written while the batch runs
                assert (await FirmwareRecords(db).station("CP-B")).connectors == {"1": "Available"}  # type: ignore[union-attr]
        with pytest.raises(RuntimeError):
            async with scope([]):
                await campaigns.connector_status("CP-C", "1", "Faulted")
                raise RuntimeError("a handler failed: the batch is handled again, nothing of it written")
        async with sessions() as db:
            records = FirmwareRecords(db)
            assert (await records.station("CP-B")).connectors == {"1": "Charging", "2": "Faulted"}  # type: ignore[union-attr]
            assert (await records.station("CP-C")).connectors == {"1": "Available"}  # type: ignore[union-attr]
    finally:
        await engine.dispose()

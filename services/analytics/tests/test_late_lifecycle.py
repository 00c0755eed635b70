"""A station's events read out of their order, as after an embedded broker's restart (ADR 0045, ADR 0038): its
disconnect or newest report first (the producer resent them to the new broker), then the spool's replay of the
events before them, then copies. Analytics keeps the link and port status of the newest event: no phantom
online stretch, no fault left open (SQLite and PostgreSQL)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from voltline_analytics.adapters import orm
from voltline_analytics.adapters.projection_store import StateCache, apply
from voltline_analytics.bootstrap import MIGRATIONS
from voltline_events import Envelope, envelope_for
from voltline_events.payloads import ConnectorStatus, StationConnected, StationDisconnected
from voltline_store import create_engine, run_migrations, session_factory

T0 = datetime(2026, 12, 6, 8, tzinfo=UTC)


def at(sid: str, minutes: int, event: Any) -> Envelope:
    envelope = envelope_for(event, source="gateway/test", station_id=sid)
    return envelope.model_copy(update={"time": T0 + timedelta(minutes=minutes)})


def status(value: str) -> ConnectorStatus:
    code = "GroundFailure" if value == "Faulted" else "NoError"
    return ConnectorStatus(ocpp_version="ocpp1.6", connector_id=1, status=value, error_code=code)


def stories() -> list[Envelope]:
    """CP-LEFT connects, reports and leaves: its disconnect is read before the rest. CP-PORT's newest report
    (the same as an older one) is read before the fault it ends."""
    left = [
        at("CP-LEFT", 1, StationConnected(ocpp_version="ocpp1.6", gateway_instance="gw")),
        at("CP-LEFT", 2, status("Available")),
        at("CP-LEFT", 5, StationDisconnected(gateway_instance="gw", reason="closed")),
    ]
    port = [
        at("CP-PORT", 0, StationConnected(ocpp_version="ocpp1.6", gateway_instance="gw")),
        at("CP-PORT", 1, status("Faulted")),
        at("CP-PORT", 2, status("Available")),
        at("CP-PORT", 3, status("Faulted")),
        at("CP-PORT", 4, status("Available")),
    ]
    # the newest first, then the replay of what came before it, then copies of the replayed ones
    return [left[2], *left[:2], *left[:2], *port[:3], port[4], port[3], port[3]]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/late.db"
    return str(request.getfixturevalue("postgres").create_database(f"analytics_{secrets.token_hex(4)}"))


@pytest.mark.parametrize("batch", [1, 100])
async def test_the_newest_lifecycle_event_wins_whatever_the_order_read(url: str, batch: int) -> None:
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    sessions = session_factory(engine)
    cache = StateCache()
    events = stories()
    for i in range(0, len(events), batch):
        async with sessions() as session, session.begin():
            await apply(session, events[i : i + batch], timedelta(days=7), cache)
    async with sessions() as session:
        stations = {r.station_id: r for r in await session.execute(select(orm.stations))}
        ports = {r.station_id: r for r in await session.execute(select(orm.ports))}
        facts = (await session.execute(select(orm.facts.c.data).where(orm.facts.c.kind == "outage"))).scalars()
        outages = sorted((f["station_id"], f["kind"], f["start"], f["end"]) for f in facts)
    await engine.dispose()
    assert not stations["CP-LEFT"].connected
    assert stations["CP-LEFT"].since == T0 + timedelta(minutes=5)  # offline from its disconnect: no online after it
    assert ports["CP-PORT"].ocpp_status == "Available"  # no fault left open by the older report
    assert ports["CP-LEFT"].ocpp_status == "Available"
    assert [o for o in outages if o[0] == "CP-LEFT"] == []  # never reconnected: its outage is still open

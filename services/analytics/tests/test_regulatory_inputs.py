"""What other services announce for the regulatory data: diagnostics' uptime exclusions reduce NEVI's outage
time, billing's tariffs give the AFIR feed its ad-hoc price, and connector statuses give status-based
utilisation (SQLite store, events applied as the worker applies them, no broker needed)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI
from voltline_analytics.adapters import kpi_reads as queries
from voltline_analytics.bootstrap import MIGRATIONS
from voltline_analytics.domain.kpis import Co2Factors
from voltline_analytics.entrypoints.consumers import store_applier
from voltline_analytics.entrypoints.exports import build_exports_router
from voltline_analytics.service_layer.context import AnalyticsContext
from voltline_events import Envelope, Event, envelope_for
from voltline_events.payloads import (
    ConnectorStatus,
    StationConnected,
    TariffAssigned,
    TariffChanged,
    UptimeExclusionDeclared,
)
from voltline_store import create_engine, run_migrations, session_factory

DAY = datetime(2026, 11, 2, tzinfo=UTC)
NOW = DAY + timedelta(days=1)


def at(hours: float) -> datetime:
    return DAY + timedelta(hours=hours)


def _env(event: Event, station_id: str | None, time: datetime) -> Envelope:
    return envelope_for(event, source="test", station_id=station_id).model_copy(update={"time": time})


def _status(station_id: str, status: str, hours: float) -> Envelope:
    event = ConnectorStatus(ocpp_version="ocpp2.0.1", timestamp=at(hours), evse_id=1, connector_id=1, status=status)
    return _env(event, station_id, at(hours))


def _log() -> list[Envelope]:
    connected = StationConnected(ocpp_version="ocpp2.0.1", gateway_instance="gw-1")

    def tariff(tid: str, price: str, version: int = 1, valid_from: datetime | None = None, **kw: Any) -> Envelope:
        event = TariffChanged(tariff_id=tid, version=version, currency="EUR", valid_from=valid_from,
                              energy_price_per_kwh=Decimal(price), vat_percent=Decimal(21), **kw)  # fmt: skip
        return _env(event, None, at(0))

    def exclusion(xid: str, start: float, end: float) -> Envelope:
        event = UptimeExclusionDeclared(exclusion_id=xid, starts_at=at(start), ends_at=at(end), reason="grid_outage",
                                        declared_at=at(20))  # fmt: skip
        return _env(event, "CP-X", at(20))

    return [
        _env(connected, "CP-X", at(0)),
        _env(connected, "CP-Y", at(0)),
        _status("CP-X", "Available", 0),
        _status("CP-Y", "Available", 0),
        tariff("T-DEFAULT", "0.39", default=True, session_fee=Decimal("1.00")),
        _env(TariffAssigned(scope="default", tariff_id="T-DEFAULT", assigned_at=at(0)), None, at(0)),
        tariff("T-X", "0.50"),
        tariff("T-X", "0.60", version=2, valid_from=datetime(2027, 1, 1, tzinfo=UTC)),  # not in force yet
        _env(TariffAssigned(scope="station", scope_id="CP-X", tariff_id="T-X", assigned_at=at(0)), "CP-X", at(0)),
        _status("CP-X", "Preparing", 2),  # occupied 02:00-05:00 (Preparing, Charging, Finishing)
        _status("CP-X", "Charging", 2.5),
        _status("CP-X", "Finishing", 4.5),
        _status("CP-X", "Available", 5),
        _status("CP-X", "Faulted", 10),  # down 10:00-14:00, of which 11:00-13:00 excluded
        _status("CP-X", "Available", 14),
        exclusion("X-1", 11, 12),
        exclusion("X-2", 11.5, 13),  # overlaps X-1: excluded once
        exclusion("X-3", 20, 21),  # no outage then: nothing to exclude
    ]


async def _apply(url: str, batch: int) -> AnalyticsContext:
    await run_migrations(url, MIGRATIONS)
    sessions = session_factory(create_engine(url))
    apply = store_applier(sessions, timedelta(days=7))
    log = _log()
    for i in range(0, len(log), batch):
        await apply(log[i : i + batch])
    return AnalyticsContext(sessions=sessions, lateness=timedelta(days=7), co2=Co2Factors(), default_currency="EUR",
                            clock=lambda: NOW)  # fmt: skip


async def _get(ctx: AnalyticsContext, path: str, **params: str) -> httpx.Response:
    app = FastAPI()
    app.include_router(build_exports_router(ctx), prefix="/api/v1")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://analytics") as client:
        return await client.get(f"/api/v1{path}", params=params)


async def test_exclusions_tariffs_and_status_utilisation(tmp_path: Any) -> None:
    ctx = await _apply(f"sqlite+aiosqlite:///{tmp_path}/a.db", batch=3)

    uptime = list(csv.DictReader(io.StringIO((await _get(ctx, "/exports/nevi/uptime", month="2026-11")).text)))
    x = next(r for r in uptime if r["station_id"] == "CP-X")
    # observed 24 h = 1,440 min; faulted 240 min, 120 of them excluded: (1440 - (240 - 120)) / 1440
    assert (x["period_minutes"], x["outage_minutes"], x["excluded_minutes"]) == ("1440.0", "240.0", "120.0")
    assert (x["uptime_percent"], x["outage_count"]) == ("91.67", "1")
    y = next(r for r in uptime if r["station_id"] == "CP-Y")
    assert (y["excluded_minutes"], y["uptime_percent"]) == ("0.0", "100.00")

    feed = (await _get(ctx, "/afir/locations")).json()["data"]
    price = {loc["id"]: loc["evses"][0]["ad_hoc_price"] for loc in feed}
    assert price["CP-X"] == {"tariff_id": "T-X", "currency": "EUR", "price_per_kwh": "0.50", "price_per_hour": None,
                             "session_fee": None, "vat_percent": "21", "price_per_kwh_incl_vat": "0.61"}  # fmt: skip
    assert (price["CP-Y"]["tariff_id"], price["CP-Y"]["price_per_kwh"], price["CP-Y"]["session_fee"]) == (
        "T-DEFAULT", "0.39", "1.00"
    )  # fmt: skip

    async with ctx.sessions() as session:
        day = (await queries.kpis(session, queries.Scope(station_id="CP-X"), DAY, NOW, "day", NOW, Co2Factors(),
                                  "EUR"))[0]  # fmt: skip
        hours = await queries.kpis(session, queries.Scope(station_id="CP-X"), DAY, NOW, "hour", NOW, Co2Factors(),
                                   "EUR")  # fmt: skip
    assert day["status_utilisation_percent"] == "12.50"  # 3 h occupied of 24 h, one port
    assert [h["status_utilisation_percent"] for h in hours[1:6]] == ["0.00", "100.00", "100.00", "100.00", "0.00"]
    assert day["uptime_percent"] == "83.33"  # KPIs count the fault whole (20 of 24 h); only NEVI excludes


async def test_the_same_figures_whatever_the_batching(tmp_path: Any) -> None:
    one = await _apply(f"sqlite+aiosqlite:///{tmp_path}/one.db", batch=1)
    every = await _apply(f"sqlite+aiosqlite:///{tmp_path}/all.db", batch=100)
    for path, params in (("/exports/nevi/uptime", {"month": "2026-11"}), ("/afir/locations", {})):
        assert (await _get(one, path, **params)).text == (await _get(every, path, **params)).text

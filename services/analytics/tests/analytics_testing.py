"""An analytics service running in-process over the run's real Kafka and PostgreSQL, and a known day of
events exactly as the session, billing and gateway services publish them (the contract analytics reads)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from pydantic import SecretStr
from voltline_analytics.bootstrap import build
from voltline_analytics.settings import AnalyticsSettings
from voltline_bus import BusConfig, Producer
from voltline_events import Envelope, Event, Topics, envelope_for, station_key
from voltline_events.payloads import (
    CdrCreated,
    ConnectorStatus,
    RefundIssued,
    SessionEnded,
    SessionStarted,
    StationConnected,
    StationDisconnected,
)
from voltline_events.payloads.sessions import EnergyReading, SessionPeriod

TOKEN = "analytics-test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
DAY = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday


def at(hh: int, mm: int = 0, day: int = 0) -> datetime:
    return DAY + timedelta(days=day, hours=hh, minutes=mm)


@dataclass
class Running:
    api: httpx.AsyncClient
    settings: AnalyticsSettings

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.api.get(f"/api/v1{path}", params=params, headers=ADMIN)


@asynccontextmanager
async def running_analytics(
    bootstrap: str, database_url: str, prefix: str, group: str, worker: str = "batch"
) -> AsyncIterator[Running]:
    settings = AnalyticsSettings(
        database_url=database_url,
        kafka_bootstrap=bootstrap,
        topic_prefix=prefix,
        admin_token=SecretStr(TOKEN),
        instance_id=f"test-{secrets.token_hex(2)}",
        analytics_consumer_group=group,
        analytics_worker=worker,
    )
    app = build(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://analytics") as api:
            yield Running(api, settings)


class Publisher:
    """Publishes on the topics as their owners do: keyed by station id, in the envelope they use."""

    def __init__(self, bootstrap: str, topics: Topics) -> None:
        self.producer = Producer(BusConfig(bootstrap=bootstrap, client_id="analytics-tests"))
        self.topics = topics

    async def send(self, topic: str, event: Event, station_id: str, *, time: datetime | None = None) -> Envelope:
        envelope = envelope_for(
            event, source="test", station_id=station_id, session_id=getattr(event, "session_id", None)
        )
        if time is not None:
            envelope = envelope.model_copy(update={"time": time})
        await self.producer.publish(topic, envelope, key=station_key(station_id))
        return envelope


def _session_pair(
    sid: str, station: str, evse: int, started: datetime, ended: datetime, energy_wh: int, **extra: Any
) -> tuple[SessionStarted, SessionEnded]:
    common = {"session_id": sid, "station_id": station, "evse_id": evse, "connector_id": 1, "started_at": started}
    for name, default in (
        ("id_token", None),
        ("driver_id", None),
        ("ocpp_version", "ocpp1.6"),
        ("id_token_type", None),
    ):
        common[name] = extra.pop(name, default)
    return SessionStarted(**common), SessionEnded(**common, ended_at=ended, energy_wh=energy_wh, **extra)


def _cdr(
    sid: str, station: str, started: datetime, ended: datetime, kwh: str, excl: str, incl: str, rev: int = 1
) -> CdrCreated:
    e, i = Decimal(excl), Decimal(incl)
    return CdrCreated(cdr_id=f"cdr-{sid}-{rev}", session_id=sid, station_id=station, started_at=started, ended_at=ended,
                      currency="EUR", energy_kwh=Decimal(kwh), total_excl_vat=e, total_vat=i - e, total_incl_vat=i,
                      revision=rev)  # fmt: skip


async def publish_known_day(pub: Publisher) -> None:
    """The known day of docs/analytics.md's worked example (values hand-computed in test_known_day.py)."""
    t = pub.topics
    st, ss, bl = t.station_events, t.sessions, t.billing
    await pub.send(st, StationConnected(ocpp_version="ocpp1.6", gateway_instance="gw"), "CP-A", time=at(0))
    await pub.send(st, StationConnected(ocpp_version="ocpp2.0.1", gateway_instance="gw"), "CP-B", time=at(0))
    # S1: a card session on the 1.6 station across 08:00-10:00, charging 45 min then idle 15 min.
    s1 = _session_pair("S1", "CP-A", 1, at(8, 30), at(9, 30), 20000, driver_id="d1", id_token="CARD1",
                       id_token_type="ISO14443", stop_reason="EVDisconnected", peak_power_w=22000.0,
                       periods=[SessionPeriod(state="charging", start=at(8, 30), end=at(9, 15), energy_wh=20000),
                                SessionPeriod(state="idle", start=at(9, 15), end=at(9, 30))],
                       energy_timeline=[EnergyReading(at=at(9), energy_wh=10000)])  # fmt: skip
    for e in s1:
        await pub.send(ss, e, "CP-A")
    await pub.send(bl, _cdr("S1", "CP-A", at(8, 30), at(9, 30), "20.000", "8.00", "9.52"), "CP-A")
    # S2: an app session on the 2.0.1 station.
    s2 = _session_pair("S2", "CP-B", 1, at(10), at(11), 30000, driver_id="d2", id_token="APP2",
                       id_token_type="Central", ocpp_version="ocpp2.0.1", stop_reason="Local",
                       peak_power_w=50000.0)  # fmt: skip
    for e in s2:
        await pub.send(ss, e, "CP-B")
    await pub.send(bl, _cdr("S2", "CP-B", at(10), at(11), "30.000", "12.00", "14.28"), "CP-B")
    # S3: a start refused by authorisation (the station stops it at once).
    s3 = _session_pair("S3", "CP-A", 1, at(12), at(12, 1), 0, id_token="BAD", id_token_type="ISO14443",
                       stop_reason="DeAuthorized")  # fmt: skip
    for e in s3:
        await pub.send(ss, e, "CP-A")
    # A fault on CP-B's second EVSE, 13:00-15:00.
    fault = ConnectorStatus(ocpp_version="ocpp2.0.1", timestamp=at(13), evse_id=2, connector_id=1, status="Faulted",
                            error_code="GroundFailure")  # fmt: skip
    await pub.send(st, fault, "CP-B", time=at(13))
    ok = ConnectorStatus(ocpp_version="ocpp2.0.1", timestamp=at(15), evse_id=2, connector_id=1, status="Available")
    await pub.send(st, ok, "CP-B", time=at(15))
    # A refund of a third of S2, and S1 re-priced (CDR revision 2).
    refund = RefundIssued(refund_id="R1", payment_id="P2", session_id="S2", station_id="CP-B", cdr_id="cdr-S2-1",
                          session_started_at=at(10), refunded_at=at(18), currency="EUR",
                          amount_incl_vat=Decimal("4.76"), amount_excl_vat=Decimal("4.00"))  # fmt: skip
    await pub.send(bl, refund, "CP-B")
    await pub.send(bl, _cdr("S1", "CP-A", at(8, 30), at(9, 30), "20.000", "7.00", "8.33", rev=2), "CP-A")
    # CP-A goes offline at 19:30 and charges offline 20:00-21:00; back at 01:00 it uploads the session.
    await pub.send(st, StationDisconnected(gateway_instance="gw", reason="ping timeout"), "CP-A", time=at(19, 30))
    await pub.send(st, StationConnected(ocpp_version="ocpp1.6", gateway_instance="gw"), "CP-A", time=at(1, day=1))
    # A session ten days older than anything CP-A sent: beyond the allowed lateness, kept but not counted.
    old = _session_pair("S0", "CP-A", 1, at(8, day=-10), at(9, day=-10), 5000, id_token="OLD")
    await pub.send(ss, old[1], "CP-A")
    s4 = _session_pair("S4", "CP-A", 1, at(20), at(21), 10000, driver_id="d1", id_token="CARD1",
                       id_token_type="ISO14443", stop_reason="Local", peak_power_w=11000.0)  # fmt: skip
    for e in s4:
        await pub.send(ss, e, "CP-A", time=at(1, 5, day=1))
    await pub.send(bl, _cdr("S4", "CP-A", at(20), at(21), "10.000", "4.00", "4.76"), "CP-A")
    # The end marker: a session on another day, so a test knows everything before it was applied.
    end = _session_pair("S9", "CP-B", 1, at(10, day=1), at(11, day=1), 1000, id_token="X", stop_reason="Local")
    for e in end:
        await pub.send(ss, e, "CP-B")

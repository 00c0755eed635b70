"""Events in, facts out: what each event type means to analytics (pure; no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from voltline_events import Envelope, Event
from voltline_events.payloads import (
    CdrCreated,
    ConnectorStatus,
    RefundIssued,
    SessionEnded,
    SessionStarted,
    StationConnected,
    StationDisconnected,
    TariffAssigned,
    TariffChanged,
    UptimeExclusionDeclared,
)

from voltline_analytics.domain.facts import CdrFact, Fact, Period, RefundFact, SessionFact, driver_key
from voltline_analytics.domain.timeslots import utc

# The event types analytics reads; a consumer skips every other type without parsing it.
EVENT_TYPES = frozenset(
    {
        SessionStarted.TYPE,
        SessionEnded.TYPE,
        CdrCreated.TYPE,
        RefundIssued.TYPE,
        StationConnected.TYPE,
        StationDisconnected.TYPE,
        ConnectorStatus.TYPE,
        TariffChanged.TYPE,
        TariffAssigned.TYPE,
        UptimeExclusionDeclared.TYPE,
    }
)


@dataclass(frozen=True)
class Timed:
    """A fact with the event time lateness is judged by, and the stream whose watermark it is judged against."""

    fact: Fact
    stream: str
    event_time: datetime


@dataclass(frozen=True)
class Presence:
    station_id: str
    connected: bool
    at: datetime
    ocpp_version: str | None = None


def newest(at: datetime, held: datetime | None) -> bool:
    """Whether a connect/disconnect or a port's report at `at` is at least as new as the one that set what is
    `held`: the newest wins, not the last one read. A broker that restarts empty can be given a station's newest
    events before the gateway's spool replays the older ones (ADR 0045, ADR 0038)."""
    return held is None or at >= held


@dataclass(frozen=True)
class PortStatus:
    station_id: str
    evse_id: int
    connector_id: int | None
    status: str
    error_code: str | None
    at: datetime


@dataclass(frozen=True)
class Reference:
    """A row of reference data other services own (tariffs, assignments, uptime exclusions): the newest wins."""

    table: str
    key: tuple[Any, ...]
    row: dict[str, Any]


Change = Timed | Presence | PortStatus | Reference


def translate(envelope: Envelope, payload: Event) -> Change | None:
    """The one change an event makes in analytics, or None when it makes none."""
    station = envelope.station_id or getattr(payload, "station_id", None)
    if isinstance(payload, SessionStarted | SessionEnded):
        return Timed(_session(payload), "session", utc(getattr(payload, "ended_at", payload.started_at)))
    if isinstance(payload, CdrCreated):
        fact = CdrFact(payload.session_id, payload.cdr_id, payload.station_id, utc(payload.started_at),
                       payload.currency, payload.total_excl_vat, payload.total_incl_vat, payload.revision)  # fmt: skip
        return Timed(fact, "billing", utc(payload.ended_at))
    if isinstance(payload, RefundIssued):
        refund = RefundFact(payload.refund_id, payload.session_id, payload.station_id,
                            utc(payload.session_started_at), payload.currency, payload.amount_excl_vat,
                            payload.amount_incl_vat)  # fmt: skip
        return Timed(refund, "billing", utc(payload.refunded_at))
    if isinstance(payload, TariffChanged | TariffAssigned):
        return _tariff(payload)
    if station is None:
        return None
    if isinstance(payload, UptimeExclusionDeclared):
        row = {"exclusion_id": payload.exclusion_id, "station_id": station, "evse_id": payload.evse_id,
               "starts_at": utc(payload.starts_at), "ends_at": utc(payload.ends_at),
               "reason": payload.reason[:32]}  # fmt: skip
        return Reference("exclusions", (payload.exclusion_id,), row)
    if isinstance(payload, StationConnected):
        return Presence(station, True, utc(envelope.time), payload.ocpp_version)
    if isinstance(payload, StationDisconnected):
        return Presence(station, False, utc(envelope.time))
    if isinstance(payload, ConnectorStatus):
        port = payload.evse_id if payload.evse_id is not None else payload.connector_id
        if not port:
            return None  # connector 0 / EVSE 0: the station as a whole, not a port
        at = utc(payload.timestamp or envelope.time)
        return PortStatus(station, port, payload.connector_id, payload.status, payload.error_code, at)
    return None


def _tariff(p: TariffChanged | TariffAssigned) -> Reference:
    if isinstance(p, TariffAssigned):
        row = {"scope": p.scope, "scope_id": p.scope_id, "tariff_id": p.tariff_id, "station_ids": p.station_ids,
               "assigned_at": utc(p.assigned_at)}  # fmt: skip
        return Reference("tariff_assignments", (p.scope, p.scope_id), row)
    prices = {k: None if v is None else str(v) for k, v in (("energy_price_per_kwh", p.energy_price_per_kwh),
              ("time_price_per_hour", p.time_price_per_hour), ("session_fee", p.session_fee),
              ("vat_percent", p.vat_percent))}  # fmt: skip
    row = {"tariff_id": p.tariff_id, "version": p.version, "currency": p.currency,
           "valid_from": utc(p.valid_from) if p.valid_from else None, **prices}  # fmt: skip
    return Reference("tariffs", (p.tariff_id, p.version), row)


def _session(p: SessionStarted | SessionEnded) -> SessionFact:
    ended = isinstance(p, SessionEnded)
    fact = SessionFact(
        session_id=p.session_id,
        station_id=p.station_id,
        evse_id=p.evse_id,
        connector_id=p.connector_id,
        started_at=utc(p.started_at),
        ended_at=utc(p.ended_at) if isinstance(p, SessionEnded) else None,
        driver=driver_key(p.driver_id, p.id_token),
        id_token_type=p.id_token_type,
        ocpp_version=p.ocpp_version,
    )
    if isinstance(p, SessionEnded) and ended:
        fact.energy_wh = p.energy_wh
        fact.peak_power_w = p.peak_power_w
        fact.stop_reason = p.stop_reason
        fact.revision = p.revision
        fact.periods = [Period(x.state, utc(x.start), utc(x.end)) for x in p.periods]
        fact.timeline = [(utc(r.at), r.energy_wh) for r in p.energy_timeline]
    return fact

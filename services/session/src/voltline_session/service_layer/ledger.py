"""Recomputing a session from its stored facts, and the events that tell others about it.

Every change to a session goes through `recompute` (energy, power, state, periods from *all* readings
and observations) and then `announce` (which events the change causes, added to the outbox in the same
transaction). A 2.x end whose messages have not all arrived is held back (up to a grace period); an ended
session whose billing-relevant content changes after it was announced is announced again with the next
revision.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from voltline_chassis.metrics import counter, gauge
from voltline_events import envelope_for, station_key
from voltline_events.payloads.sessions import (
    EnergyReading,
    SessionEnded,
    SessionPeriod,
    SessionStarted,
    SessionUpdated,
)

from voltline_session.domain.energy import EnergyResult, walk_energy, wh
from voltline_session.domain.meter import Reading
from voltline_session.domain.periods import DEFAULT_STATE, START_LOOKBACK, Period, build_periods, current_state
from voltline_session.domain.session import (
    CLOSED_BY_OPERATOR,
    MeterStats,
    Session,
    ended_by,
    measured,
    missing_messages,
    ready_to_announce_end,
)
from voltline_session.domain.stats import meter_stats
from voltline_session.domain.tally import Tally, advance, tally_key, tally_of
from voltline_session.service_layer.context import SessionContext
from voltline_session.service_layer.unit_of_work import SessionUnitOfWork

MAX_TIMELINE_POINTS = 2000
STARTED = counter("voltline_sessions_started_total", "Sessions seen for the first time", ["ocpp_version"])
ENDED = counter("voltline_sessions_ended_total", "session.ended published (first time and revisions)", ["revised"])
ENERGY = counter("voltline_session_energy_wh_total", "Energy of ended sessions (first announcement), in Wh")
ACTIVE = gauge("voltline_sessions_active", "Active sessions, counted every supervision round")
ANOMALIES = counter("voltline_session_anomalies_total", "Ended sessions by anomaly in their data", ["anomaly"])


Folded = tuple[EnergyResult, MeterStats, Tally]


@dataclass(frozen=True)
class Derived:
    """What a session's readings and observations say, beyond the session row itself."""

    readings: list[Reading]
    energy: EnergyResult
    periods: list[Period]
    missing: list[int]  # 2.x seqNos of the transaction not received (yet)
    tallied: bool = False  # from running totals: `readings` are only the new ones (and `periods` empty)

    @property
    def any_readings(self) -> bool:
        return self.tallied or bool(self.readings)  # a tally exists only once two register values were counted


def fold(ctx: SessionContext, session: Session, new: Sequence[Reading], now: datetime) -> Folded | None:
    """An open session's figures with `new` readings folded into its running totals (domain.tally), without
    reading its stored readings; None when that is not exact (then `recompute` reads them all)."""
    if not ctx.fold_readings or not session.active or session.meter_tally is None:
        return None
    tally = ctx.tallies.decode(session.session_id, session.meter_tally)
    if tally is None:
        return None
    return advance(tally, _key(ctx, session), new, ctx.policy)


def _key(ctx: SessionContext, session: Session) -> tuple[object, ...]:
    return tally_key(
        session.started_at,
        session.reported_meter_start_wh,
        session.reported_meter_stop_wh,
        session.ended_at,
        ctx.policy,
    )


async def recompute(
    ctx: SessionContext,
    uow: SessionUnitOfWork,
    session: Session,
    now: datetime,
    folded: tuple[Folded, Sequence[Reading]] | None = None,
    only: Sequence[Reading] | None = None,
    *,
    with_periods: bool = True,
) -> tuple[Session, Derived]:
    """The session's figures from all its readings and observations (or, given `fold`'s result and the
    readings it folded, from its running totals). `only`: the caller knows these are all its readings (a
    session created by this message, or one with none stored yet), so they are not read back. `with_periods`:
    False when the caller only announces and stores it: an open session's periods (which only
    session.ended and the API's detail carry) are then not built, and its state is read from one row."""
    key = _key(ctx, session)
    if folded is not None:
        (energy, stats, tally), readings = folded[0], list(folded[1])
        session = measured(session, energy, stats).evolve(meter_tally=ctx.tallies.encode(session.session_id, tally))
    else:
        if only is not None:  # as the store would give them: the first sent per measurand and instant, in order
            unique = {(r.measurand, r.at): r for r in reversed(only)}
            readings = [unique[k] for k in sorted(unique, key=lambda k: (k[1], k[0]))]
        else:
            readings = await uow.readings.for_session(session.session_id)
        energy, checkpoint = walk_energy(
            readings,
            meter_start_wh=session.reported_meter_start_wh,
            started_at=session.started_at,
            meter_stop_wh=session.reported_meter_stop_wh,
            ended_at=session.ended_at,
            policy=ctx.policy,
        )
        # Readings after a closed session's end stay on its timeline but change none of its figures.
        counted = readings if session.ended_at is None else [r for r in readings if r.at <= session.ended_at]
        found = tally_of(key, readings, checkpoint)
        session = measured(session, energy, meter_stats(counted, energy)).evolve(
            meter_tally=ctx.tallies.encode(session.session_id, found) if found else None
        )
    # Only a transaction numbered from 0 with its end's number known can miss messages (missing_messages).
    numbered = session.start_seq_no == 0 and session.end_seq_no is not None
    missing = missing_messages(session, await uow.sessions.seen_seq_nos(session.session_id)) if numbered else []
    if missing and session.end_seen:
        session = replace(session, anomalies=(*session.anomalies, "messages_missing"))
    since = session.started_at - START_LOOKBACK
    if folded is not None or (not with_periods and session.active):  # an open session nobody reads periods of
        # Its state is the newest observation since (about) its start: one row, not all of them.
        newest = await uow.states.newest(session.station_id, session.bay, since)
        session = session.evolve(charging_state=newest.state if newest is not None else DEFAULT_STATE)
        return session, Derived(readings, energy, [], missing, tallied=folded is not None)
    observations = await uow.states.between(session.station_id, session.bay, since, session.ended_at)
    if session.active:
        session = replace(session, charging_state=current_state(observations, session.started_at))
    end = session.ended_at or max(now, session.last_event_at)
    periods = build_periods(session.started_at, end, observations, energy.cumulative, energy.energy_wh)
    return session, Derived(readings, energy, periods, missing)


def _timeline(energy: EnergyResult) -> list[EnergyReading]:
    points = [EnergyReading(at=at, energy_wh=wh(value)) for at, value in energy.cumulative]
    if len(points) > MAX_TIMELINE_POINTS:  # thin evenly, always keeping the last point (the total)
        step = len(points) / (MAX_TIMELINE_POINTS - 1)
        points = [points[int(i * step)] for i in range(MAX_TIMELINE_POINTS - 1)] + [points[-1]]
    return points


def ended_event(session: Session, derived: Derived, revision: int) -> SessionEnded:
    assert session.ended_at is not None
    return SessionEnded(
        session_id=session.session_id,
        station_id=session.station_id,
        evse_id=session.evse_id,
        connector_id=session.connector_id,
        id_token=session.id_token,
        driver_id=session.driver_id,
        started_at=session.started_at,
        ended_at=session.ended_at,
        meter_start_wh=session.meter_start_wh,
        meter_stop_wh=session.meter_stop_wh,
        energy_wh=session.energy_wh,
        stop_reason=session.stop_reason,
        peak_power_w=session.peak_power_w,
        periods=[
            SessionPeriod(state=p.state, start=p.start, end=p.end, energy_wh=p.energy_wh) for p in derived.periods
        ],
        energy_timeline=_timeline(derived.energy),
        transaction_id=session.transaction_id,
        ocpp_version=session.ocpp_version,
        id_token_type=session.id_token_type,
        remote_start_id=session.remote_start_id,
        soc_start_percent=session.soc_start_percent,
        soc_end_percent=session.soc_percent,
        reconciled=session.reconciled,
        closed_by_operator=session.stop_reason == CLOSED_BY_OPERATOR and not session.end_seen,
        ended_by=ended_by(session),
        end_detail=None if session.end_seen else session.close_reason,
        anomalies=list(session.anomalies),
        revision=revision,
    )


def started_event(session: Session) -> SessionStarted:
    return SessionStarted(
        session_id=session.session_id,
        station_id=session.station_id,
        evse_id=session.evse_id,
        connector_id=session.connector_id,
        id_token=session.id_token,
        driver_id=session.driver_id,
        started_at=session.started_at,
        meter_start_wh=session.meter_start_wh,
        remote_start_id=session.remote_start_id,
        transaction_id=session.transaction_id,
        ocpp_version=session.ocpp_version,
        id_token_type=session.id_token_type,
        reconciled=session.reconciled,
    )


def updated_event(session: Session, now: datetime) -> SessionUpdated:
    return SessionUpdated(
        session_id=session.session_id,
        station_id=session.station_id,
        energy_wh=session.energy_wh,
        power_w=session.power_w,
        soc_percent=session.soc_percent,
        at=session.last_reading_at or now,
        transaction_id=session.transaction_id,
        charging_state=session.charging_state,
    )


def _digest(event: SessionEnded) -> str:
    content = event.model_dump(mode="json", exclude={"revision"})
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _publish(
    ctx: SessionContext, uow: SessionUnitOfWork, session: Session, event: SessionStarted | SessionUpdated | SessionEnded
) -> None:
    envelope = envelope_for(event, source=ctx.source, station_id=session.station_id, session_id=session.session_id)
    uow.outbox.add(ctx.topics.sessions, envelope, key=station_key(session.station_id))


def _live(session: Session) -> tuple[object, ...]:
    return session.energy_wh, session.power_w, session.soc_percent, session.charging_state


def update_due(ctx: SessionContext, session: Session, now: datetime) -> bool:
    """Whether a change of an active session's live figures would be published as session.updated now."""
    last = session.last_update_published_at
    return last is None or now - last >= ctx.update_interval


def announce(
    ctx: SessionContext, uow: SessionUnitOfWork, before: Session | None, after: Session, derived: Derived, now: datetime
) -> Session:
    """Add the events this change causes to the outbox; returns the session with what was announced."""
    if before is None:
        _publish(ctx, uow, after, started_event(after))
        STARTED.labels(after.ocpp_version).inc()
    if not after.active:
        if after.revision == 0 and not ready_to_announce_end(after, derived.missing, now, ctx.end_grace):
            return after  # held back: the rest of this session's backlog is probably on its way
        event = ended_event(after, derived, after.revision + 1)
        digest = _digest(event)
        if digest != after.ended_hash:
            _publish(ctx, uow, after, event)
            ENDED.labels(str(event.revision > 1).lower()).inc()
            if event.revision == 1 and after.energy_wh:
                ENERGY.inc(after.energy_wh)
            for anomaly in after.anomalies if event.revision == 1 else ():
                ANOMALIES.labels(anomaly).inc()
            after = replace(after, revision=event.revision, ended_hash=digest)
        return after
    if update_due(ctx, after, now) and derived.any_readings and before is not None and _live(before) != _live(after):
        _publish(ctx, uow, after, updated_event(after, now))
        after = replace(after, last_update_published_at=now)
    return after

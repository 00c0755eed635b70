"""Applies a batch of events to the analytics store in one transaction: facts, contributions, buckets, state.

Idempotent without an inbox: a fact replaces the stored fact of the same key unless that one ranks higher,
and buckets are recomputed from contributions, so redelivery, revisions and replays give the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import delete, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from voltline_events import Envelope, UnknownEventError, decode_payload

from voltline_analytics.adapters import orm
from voltline_analytics.adapters.buckets import apply_deltas
from voltline_analytics.domain.facts import Fact, OccupiedFact, OutageFact, SessionFact
from voltline_analytics.domain.measures import COUNTERS, MAXIMA, MONEY, Contribution, Measures, money_text
from voltline_analytics.domain.translate import EVENT_TYPES, PortStatus, Presence, Reference, Timed, translate

log = structlog.get_logger()
FAULTED = "Faulted"
# OCPP 1.6 ChargePointStatus and 2.0.1 ConnectorStatusEnumType values in which a vehicle occupies the port.
OCCUPIED = frozenset({"Occupied", "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing"})
FUTURE_TOLERANCE = timedelta(days=1)  # a station clock further ahead than this does not move the watermark


@dataclass
class Outcome:
    applied: int = 0
    late: int = 0
    skipped: int = 0
    max_event_time: datetime | None = None


@dataclass
class _State:
    """The rows of live state a batch reads and changes, loaded once and written back once."""

    stations: dict[str, dict[str, Any]] = field(default_factory=dict)
    ports: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    watermarks: dict[tuple[str, str], datetime] = field(default_factory=dict)
    dirty_stations: set[str] = field(default_factory=set)
    dirty_ports: set[tuple[str, int]] = field(default_factory=set)
    dirty_watermarks: set[tuple[str, str]] = field(default_factory=set)


def relevant(envelope: Envelope) -> bool:
    return envelope.type in EVENT_TYPES


async def apply(session: AsyncSession, envelopes: Sequence[Envelope], lateness: timedelta) -> Outcome:
    """Apply `envelopes` (in log order) inside the caller's transaction."""
    outcome = Outcome()
    changes = []
    for envelope in envelopes:
        if not relevant(envelope):
            outcome.skipped += 1
            continue
        try:
            change = translate(envelope, decode_payload(envelope))
        except UnknownEventError:
            change = None
        if change is None:
            outcome.skipped += 1
        else:
            changes.append((envelope, change))
    if not changes:
        return outcome
    state = await _load_state(session, [c for _, c in changes])
    facts: dict[str, Fact] = {}
    late_rows: list[dict[str, Any]] = []
    references: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
    for envelope, change in changes:
        if isinstance(change, Reference):
            references.setdefault(change.table, {})[change.key] = change.row
        elif isinstance(change, Timed):
            key = (change.stream, change.fact.station_id)
            mark = state.watermarks.get(key)
            if mark is not None and change.event_time < mark - lateness:
                late_rows.append(_late_row(envelope, change, mark))
                continue
            if change.event_time <= envelope.time + FUTURE_TOLERANCE and (mark is None or change.event_time > mark):
                state.watermarks[key] = change.event_time
                state.dirty_watermarks.add(key)
            _keep(facts, change.fact)
            if isinstance(change.fact, SessionFact) and change.fact.evse_id:
                _port(state, change.fact.station_id, change.fact.evse_id)
            if outcome.max_event_time is None or change.event_time > outcome.max_event_time:
                outcome.max_event_time = change.event_time
        elif isinstance(change, Presence):
            outage = _presence(state, change)
            if outage is not None:
                _keep(facts, outage)
        else:
            for closed in _port_status(state, change):
                _keep(facts, closed)
    outcome.late = len(late_rows)
    outcome.applied = len(changes) - outcome.late
    await _store_facts(session, list(facts.values()))
    await _save_state(session, state, late_rows)
    for table, rows in references.items():
        await _replace(session, getattr(orm, table), rows)
    return outcome


async def _replace(session: AsyncSession, table: Any, rows: dict[tuple[Any, ...], dict[str, Any]]) -> None:
    """Insert or replace rows by primary key (reference data: the newest in log order wins)."""
    pk = tuple_(*table.primary_key.columns)
    keys = list(rows)
    for chunk in _chunks(keys, 400):
        await session.execute(delete(table).where(pk.in_(chunk)))
    await session.execute(insert(table), list(rows.values()))


def _keep(facts: dict[str, Fact], fact: Fact) -> None:
    held = facts.get(fact.key)
    if held is None or fact.rank >= held.rank:
        facts[fact.key] = fact


async def _store_facts(session: AsyncSession, facts: list[Fact]) -> None:
    """Replace stored facts that these outrank, and move the buckets by the difference in contributions."""
    if not facts:
        return
    keys = [f.key for f in facts]
    ranks: dict[str, int] = {}
    for chunk in _chunks(keys):
        query = select(orm.facts.c.fact_key, orm.facts.c.rank).where(orm.facts.c.fact_key.in_(chunk))
        ranks.update({r.fact_key: r.rank for r in await session.execute(query)})
    winners = [f for f in facts if f.key not in ranks or f.rank >= ranks[f.key]]
    if not winners:
        return
    removed: list[Contribution] = []
    replaced = [f.key for f in winners if f.key in ranks]
    c = orm.contributions.c
    for chunk in _chunks(replaced):
        for row in await session.execute(select(orm.contributions).where(c.fact_key.in_(chunk))):
            removed.append(Contribution(row.station_id, row.hour, row.currency, row.driver_key, Measures.from_row(row)))
        await session.execute(delete(orm.contributions).where(c.fact_key.in_(chunk)))
        await session.execute(delete(orm.facts).where(orm.facts.c.fact_key.in_(chunk)))
    added: list[Contribution] = []
    contribution_rows = []
    for fact in winners:
        for contribution in fact.contributions():
            added.append(contribution)
            contribution_rows.append(_contribution_row(fact.key, contribution))
    await session.execute(insert(orm.facts), [_fact_row(f) for f in winners])
    if contribution_rows:
        await session.execute(insert(orm.contributions), contribution_rows)
    await apply_deltas(session, removed, added)


def _chunks(items: list[Any], size: int = 500) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _contribution_row(fact_key: str, c: Contribution) -> dict[str, Any]:
    m = c.measures
    row: dict[str, Any] = {"fact_key": fact_key, "station_id": c.station_id, "hour": c.hour, "currency": c.currency}
    row["driver_key"] = c.driver_key
    row.update({name: getattr(m, name) for name in (*COUNTERS, *MAXIMA)})
    row.update({name: money_text(getattr(m, name)) for name in MONEY})
    return row


def _fact_row(fact: Fact) -> dict[str, Any]:
    data = {k: _json(v) for k, v in vars(fact).items() if k not in ("periods", "timeline")}
    kind = fact.key.split(":", 1)[0]
    if isinstance(fact, SessionFact):
        data["failure"] = fact.failure
        at = fact.started_at
    else:
        # mypy: the facts that have no started_at have start
        at = getattr(fact, "started_at", None) or getattr(fact, "session_started_at", None) or fact.start  # type: ignore[union-attr]
    return {
        "fact_key": fact.key,
        "kind": kind,
        "station_id": fact.station_id,
        "rank": fact.rank,
        "at": at,
        "data": data,
    }


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _late_row(envelope: Envelope, change: Timed, mark: datetime) -> dict[str, Any]:
    log.warning("late_event", event_type=envelope.type, station_id=change.fact.station_id,
                event_time=change.event_time.isoformat(), watermark=mark.isoformat())  # fmt: skip
    return {
        "event_id": str(envelope.event_id),
        "stream": change.stream,
        "station_id": change.fact.station_id,
        "event_type": envelope.type,
        "event_time": change.event_time,
        "watermark": mark,
        "envelope": envelope.model_dump(mode="json"),
    }


def _presence(state: _State, change: Presence) -> OutageFact | None:
    """Track connected/disconnected; a reconnection closes the offline stretch before it."""
    row = state.stations.get(change.station_id)
    state.dirty_stations.add(change.station_id)
    if row is None:
        state.stations[change.station_id] = {"station_id": change.station_id, "first_seen_at": change.at,
                                             "connected": change.connected, "since": change.at,
                                             "ocpp_version": change.ocpp_version}  # fmt: skip
        return None
    if change.ocpp_version:
        row["ocpp_version"] = change.ocpp_version
    if change.at < row["since"] or row["connected"] == change.connected:
        return None
    outage = None
    if change.connected:
        outage = OutageFact(change.station_id, "offline", None, row["since"], change.at)
    row["connected"], row["since"] = change.connected, change.at
    return outage


def _port(state: _State, station_id: str, evse_id: int) -> dict[str, Any]:
    key = (station_id, evse_id)
    if key not in state.ports:
        state.ports[key] = {"station_id": station_id, "evse_id": evse_id, "connector_id": None,
                            "ocpp_status": None, "error_code": None, "since": None,
                            "occupied_since": None}  # fmt: skip
        state.dirty_ports.add(key)
    return state.ports[key]


def _port_status(state: _State, change: PortStatus) -> list[OutageFact | OccupiedFact]:
    """Track each port's status; leaving Faulted closes a fault outage of that port, leaving the occupied
    statuses closes an occupied stretch (status-based utilisation)."""
    row = _port(state, change.station_id, change.evse_id)
    if row["since"] is not None and change.at < row["since"]:
        return []
    closed: list[OutageFact | OccupiedFact] = []
    if row["ocpp_status"] == FAULTED and change.status != FAULTED:
        closed.append(
            OutageFact(change.station_id, "fault", change.evse_id, row["since"], change.at, row["error_code"])
        )
    occupied_since = row.get("occupied_since")
    if change.status in OCCUPIED and occupied_since is None:
        row["occupied_since"] = change.at
    elif change.status not in OCCUPIED and occupied_since is not None:
        if change.at > occupied_since:
            closed.append(OccupiedFact(change.station_id, change.evse_id, occupied_since, change.at))
        row["occupied_since"] = None
    if row["ocpp_status"] != change.status or row["since"] is None:
        row["since"] = change.at
    row.update(connector_id=change.connector_id, ocpp_status=change.status, error_code=change.error_code)
    state.dirty_ports.add((change.station_id, change.evse_id))
    return closed


async def _load_state(session: AsyncSession, changes: list[Any]) -> _State:
    state = _State()
    stations = sorted({c.station_id for c in changes if isinstance(c, Presence)})
    port_stations = sorted({c.station_id for c in changes if isinstance(c, PortStatus)} |
                           {c.fact.station_id for c in changes if isinstance(c, Timed)})  # fmt: skip
    marks = sorted({(c.stream, c.fact.station_id) for c in changes if isinstance(c, Timed)})
    for chunk in _chunks(stations):
        for row in await session.execute(select(orm.stations).where(orm.stations.c.station_id.in_(chunk))):
            state.stations[row.station_id] = dict(row._mapping)
    for chunk in _chunks(port_stations):
        for row in await session.execute(select(orm.ports).where(orm.ports.c.station_id.in_(chunk))):
            state.ports[(row.station_id, row.evse_id)] = dict(row._mapping)
    for chunk in _chunks(sorted({s for _, s in marks})):
        rows = await session.execute(select(orm.watermarks).where(orm.watermarks.c.station_id.in_(chunk)))
        for row in rows:
            state.watermarks[(row.stream, row.station_id)] = row.max_time
    return state


async def _save_state(session: AsyncSession, state: _State, late_rows: list[dict[str, Any]]) -> None:
    """Write back what changed: for ports and watermarks, every loaded row of each station that changed."""
    await _rewrite(session, orm.stations, [state.stations[s] for s in sorted(state.dirty_stations)])
    port_stations = {s for s, _ in state.dirty_ports}
    ports = [row for (station, _), row in sorted(state.ports.items()) if station in port_stations]
    await _rewrite(session, orm.ports, ports)
    mark_stations = {s for _, s in state.dirty_watermarks}
    marks = [{"stream": k[0], "station_id": k[1], "max_time": v} for k, v in sorted(state.watermarks.items())
             if k[1] in mark_stations]  # fmt: skip
    await _rewrite(session, orm.watermarks, marks)
    if late_rows:
        ids = [r["event_id"] for r in late_rows]
        query = select(orm.late_events.c.event_id).where(orm.late_events.c.event_id.in_(ids))
        known = {r.event_id for r in await session.execute(query)}
        fresh = {r["event_id"]: r for r in late_rows if r["event_id"] not in known}
        if fresh:
            await session.execute(insert(orm.late_events), list(fresh.values()))


async def _rewrite(session: AsyncSession, table: Any, rows: list[dict[str, Any]]) -> None:
    """Replace every row of the stations in `rows` with `rows` (which hold all of those stations' rows)."""
    if not rows:
        return
    for chunk in _chunks(sorted({r["station_id"] for r in rows})):
        await session.execute(delete(table).where(table.c.station_id.in_(chunk)))
    await session.execute(insert(table), rows)

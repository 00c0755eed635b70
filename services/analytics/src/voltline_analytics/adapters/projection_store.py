"""The analytics store as the projector sees it (service_layer.ports.ProjectionStore), over SQLAlchemy.

Facts, contributions, buckets, live state and late events, read and written in chunks inside the caller's
transaction; `apply(session, ...)` runs the projector's use case over it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from voltline_events import Envelope

from voltline_analytics.adapters import orm
from voltline_analytics.adapters.buckets import apply_deltas
from voltline_analytics.adapters.bulk import insert_many
from voltline_analytics.domain.facts import Fact, SessionFact
from voltline_analytics.domain.measures import COUNTERS, MAXIMA, MONEY, Contribution, Measures
from voltline_analytics.domain.translate import PortStatus, Presence, Timed
from voltline_analytics.service_layer.ports import ProjectionState
from voltline_analytics.service_layer.projector import Outcome, project

_State = ProjectionState


async def apply(session: AsyncSession, envelopes: Sequence[Envelope], lateness: timedelta) -> Outcome:
    """Apply `envelopes` (in log order) inside the caller's transaction."""
    return await project(SqlProjectionStore(session), envelopes, lateness)


class SqlProjectionStore:
    """service_layer.ports.ProjectionStore over one SQLAlchemy session (the caller's transaction)."""

    def __init__(self, session: AsyncSession) -> None:
        self._db = session

    async def load_state(self, changes: Sequence[Any]) -> ProjectionState:
        return await _load_state(self._db, list(changes))

    async def store_facts(self, facts: list[Fact]) -> None:
        await _store_facts(self._db, facts)

    async def save_state(self, state: ProjectionState, late_rows: list[dict[str, Any]]) -> None:
        await _save_state(self._db, state, late_rows)

    async def replace(self, table: str, rows: dict[tuple[Any, ...], dict[str, Any]]) -> None:
        await _replace(self._db, getattr(orm, table), rows)


async def _replace(session: AsyncSession, table: Any, rows: dict[tuple[Any, ...], dict[str, Any]]) -> None:
    """Insert or replace rows by primary key (reference data: the newest in log order wins)."""
    pk = tuple_(*table.primary_key.columns)
    keys = list(rows)
    for chunk in _chunks(keys, 400):
        await session.execute(delete(table).where(pk.in_(chunk)))
    await session.execute(insert(table), list(rows.values()))


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
    await insert_many(session, orm.facts, [_fact_row(f) for f in winners])
    await insert_many(session, orm.contributions, contribution_rows)
    await apply_deltas(session, removed, added)


def _chunks(items: list[Any], size: int = 500) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _contribution_row(fact_key: str, c: Contribution) -> dict[str, Any]:
    m = c.measures
    row: dict[str, Any] = {"fact_key": fact_key, "station_id": c.station_id, "hour": c.hour, "currency": c.currency}
    row["driver_key"] = c.driver_key
    row.update({name: getattr(m, name) for name in (*COUNTERS, *MONEY, *MAXIMA)})
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
    await insert_many(session, table, rows)

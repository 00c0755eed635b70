"""The analytics store as the projector sees it (service_layer.ports.ProjectionStore), over SQLAlchemy.

Facts, contributions, buckets, live state and late events, read and written in chunks inside the caller's
transaction; `apply(session, ...)` runs the projector's use case over it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from operator import itemgetter
from typing import Any

from sqlalchemy import delete, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from voltline_events import Envelope

from voltline_analytics.adapters import orm
from voltline_analytics.adapters.buckets import apply_deltas
from voltline_analytics.adapters.bulk import insert_many
from voltline_analytics.adapters.groups import Membership, membership
from voltline_analytics.domain.facts import Fact, SessionFact
from voltline_analytics.domain.measures import ALL, Contribution, Measures
from voltline_analytics.domain.translate import PortStatus, Presence, Timed
from voltline_analytics.service_layer.ports import ProjectionState
from voltline_analytics.service_layer.projector import Outcome, project

_State = ProjectionState


async def apply(
    session: AsyncSession, envelopes: Sequence[Envelope], lateness: timedelta, cache: StateCache | None = None
) -> Outcome:
    """Apply `envelopes` (in log order) inside the caller's transaction. With a `cache`, the caller must
    `cache.clear()` if the transaction does not commit."""
    return await project(SqlProjectionStore(session, cache), envelopes, lateness)


class StateCache:
    """The live state (stations, ports, watermarks) of the stations the worker has seen, kept between batches.

    One worker writes a store (ADR 0009), so after a commit its copy is the stored state: a batch reads only
    stations it has not seen yet. Cleared when a transaction fails and when partitions move (another member
    may have changed the stations it gets back)."""

    def __init__(self) -> None:
        self.state = ProjectionState()
        self.loaded: set[str] = set()  # stations whose rows (or their absence) are in `state`
        self.membership = Membership()  # the groups of each station (reread when their version moves)

    def clear(self) -> None:
        self.state = ProjectionState()
        self.loaded = set()
        self.membership = Membership()


class SqlProjectionStore:
    """service_layer.ports.ProjectionStore over one SQLAlchemy session (the caller's transaction)."""

    def __init__(self, session: AsyncSession, cache: StateCache | None = None) -> None:
        self._db = session
        self._cache = cache or StateCache()

    async def load_state(self, changes: Sequence[Any]) -> ProjectionState:
        cache = self._cache
        wanted = {c.station_id for c in changes if isinstance(c, Presence | PortStatus)}
        wanted |= {c.fact.station_id for c in changes if isinstance(c, Timed)}
        await _load_state(self._db, cache.state, sorted(wanted - cache.loaded))
        cache.loaded |= wanted
        held = cache.state
        return ProjectionState(stations=held.stations, ports=held.ports, watermarks=held.watermarks)

    async def store_facts(self, facts: list[Fact], contributions: dict[int, list[Contribution]] | None = None) -> None:
        await _store_facts(self._db, facts, contributions or {}, self._cache)

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


async def _store_facts(
    session: AsyncSession, facts: list[Fact], ahead: dict[int, list[Contribution]], cache: StateCache
) -> None:
    """Replace stored facts that these outrank, and move the buckets (their groups' too) by the difference in
    contributions."""
    if not facts:
        return
    ranks = await _ranks(session, [f.key for f in facts])
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
        mine = ahead.get(id(fact))
        for contribution in fact.contributions() if mine is None else mine:
            added.append(contribution)
            contribution_rows.append(_contribution_row(fact.key, contribution))
    await insert_many(session, orm.facts, [_fact_row(f) for f in winners])
    await insert_many(session, orm.contributions, contribution_rows, columns=_CONTRIBUTION)
    cache.membership = await membership(session, cache.membership)  # before the first bucket write
    await apply_deltas(session, removed, added, cache.membership)


_RANKS_PG = "SELECT fact_key, rank FROM facts WHERE fact_key = ANY($1::VARCHAR[])"


async def _ranks(session: AsyncSession, keys: list[str]) -> dict[str, int]:
    """The stored rank of each of `keys` that is stored. PostgreSQL: one statement over an array (an `IN` list
    of 500 parameters cost SQLAlchemy ~10 us per key to render, every batch); SQLite: `IN` lists by 500."""
    if session.get_bind().dialect.name == "postgresql":
        driver = (await (await session.connection()).get_raw_connection()).driver_connection
        if driver is not None:
            return {key: rank for key, rank in await driver.fetch(_RANKS_PG, keys)}
    ranks: dict[str, int] = {}
    for chunk in _chunks(keys):
        query = select(orm.facts.c.fact_key, orm.facts.c.rank).where(orm.facts.c.fact_key.in_(chunk))
        ranks.update({r.fact_key: r.rank for r in await session.execute(query)})
    return ranks


def _chunks(items: list[Any], size: int = 500) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


_CONTRIBUTION = ("fact_key", "station_id", "hour", "currency", "driver_key", *ALL)  # a contribution row's tuple
_MEASURES = itemgetter(*ALL)


def _contribution_row(fact_key: str, c: Contribution) -> tuple[Any, ...]:
    return (fact_key, c.station_id, c.hour, c.currency, c.driver_key, *_MEASURES(c.measures.__dict__))


def _fact_row(fact: Fact) -> dict[str, Any]:
    # timestamps and decimals become text as the row is written (bulk._json_text)
    data = {k: v for k, v in vars(fact).items() if k not in ("periods", "timeline")}
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


async def _load_state(session: AsyncSession, state: _State, stations: list[str]) -> None:
    """Add the stored rows of `stations` to `state`."""
    for table in (orm.stations, orm.ports, orm.watermarks):
        for chunk in _chunks(stations):
            for row in await session.execute(select(table).where(table.c.station_id.in_(chunk))):
                if table is orm.stations:
                    state.stations[row.station_id] = dict(row._mapping)
                elif table is orm.ports:
                    state.ports[(row.station_id, row.evse_id)] = dict(row._mapping)
                else:
                    state.watermarks[(row.stream, row.station_id)] = row.max_time


async def _save_state(session: AsyncSession, state: _State, late_rows: list[dict[str, Any]]) -> None:
    """Write back the rows that changed (upserts), and the late events not recorded yet."""
    await _upsert(session, orm.stations, [state.stations[s] for s in sorted(state.dirty_stations)])
    await _upsert(session, orm.ports, [state.ports[k] for k in sorted(state.dirty_ports)])
    marks = [{"stream": k[0], "station_id": k[1], "max_time": state.watermarks[k]}
             for k in sorted(state.dirty_watermarks)]  # fmt: skip
    await _upsert(session, orm.watermarks, marks)
    if late_rows:
        ids = [r["event_id"] for r in late_rows]
        query = select(orm.late_events.c.event_id).where(orm.late_events.c.event_id.in_(ids))
        known = {r.event_id for r in await session.execute(query)}
        fresh = {r["event_id"]: r for r in late_rows if r["event_id"] not in known}
        if fresh:
            await session.execute(insert(orm.late_events), list(fresh.values()))


async def _upsert(session: AsyncSession, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert or update `rows` by primary key, in one executemany."""
    pk = [c.name for c in table.primary_key.columns]

    def replace(stmt: Any) -> Any:
        rest = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in pk}
        return stmt.on_conflict_do_update(index_elements=pk, set_=rest)

    await insert_many(session, table, rows, on_conflict=replace, shape="replace")

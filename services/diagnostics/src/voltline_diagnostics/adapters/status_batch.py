"""The status tables inside a consumer batch: read once, written once, in bulk, at the batch's commit.

One event at a time, a StatusNotification cost about eight statements (station, connector, their updates,
closing and opening a history interval); at ~300 µs a statement one process handled about 200 events/s.
Inside a batch (`voltline_store.TransactionBatch`, one transaction per fetch) the station and connector rows
of every station the batch names are read in two statements up front (`PrefetchingBatch`), handlers change
them in memory, and `before_commit` writes what changed: new rows in one multi-row insert, changed rows in
one executemany update per table, history intervals closed and opened in bulk. A port that changes several
times in one batch gets every interval in its history and one write of its live row.

On PostgreSQL these reads and writes are the driver's own statements, one `executemany` of plain tuples per
kind (status_batch_pg.py): SQLAlchemy's per-row parameter and result processing was most of a batch's cost.
On PostgreSQL the batch's station rows are locked (`FOR UPDATE`) while it runs, so the monitor's writes
(unresponsive) wait for it instead of being overwritten by its in-memory copy.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import uuid4

from aiokafka.partitioner import DefaultPartitioner
from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from voltline_events import Envelope, envelope_for, station_key
from voltline_events.payloads import ConnectorStatusChange, ConnectorStatusesChanged
from voltline_store import Batch, Outbox, TransactionBatch, current_batch, outbox_table

from voltline_diagnostics.adapters import status_batch_pg
from voltline_diagnostics.adapters.health_tables import connectors, presence_history, stations, status_history
from voltline_diagnostics.adapters.status_rows import CONNECTOR_FIELDS, STATION_FIELDS, connector_row, station_row

MEMO_KEY = "diagnostics.status"
Port = tuple[str, int, int]


@dataclass
class StatusBatchState:
    """What a batch knows of the status tables; `stations[sid] is None`: known not to exist yet."""

    session: AsyncSession
    stations: dict[str, Any] = field(default_factory=dict)  # station id -> StationRow | None
    connectors: dict[str, dict[tuple[int, int], Any]] = field(default_factory=dict)  # loaded stations' ports
    new_stations: set[str] = field(default_factory=set)
    dirty_stations: set[str] = field(default_factory=set)
    new_ports: set[Port] = field(default_factory=set)
    dirty_ports: set[Port] = field(default_factory=set)
    status_rows: list[dict[str, Any]] = field(default_factory=list)
    open_status: dict[Port, dict[str, Any]] = field(default_factory=dict)  # interval opened in this batch
    close_status: dict[Port, tuple[datetime, datetime]] = field(default_factory=dict)  # stored open: (end, start)
    presence_rows: list[dict[str, Any]] = field(default_factory=list)
    open_presence: dict[str, dict[str, Any]] = field(default_factory=dict)
    close_presence: dict[str, datetime] = field(default_factory=dict)
    outbox_rows: list[dict[str, Any]] = field(default_factory=list)  # events of the batch, in order
    # status changes go into `ConnectorStatusesChanged` rows (`BatchOutbox.add_status_change`): one open group
    # per partition of the events topic, until another event is added
    status_groups: dict[int, dict[str, Any]] = field(default_factory=dict)
    source: str = "diagnostics"
    loaded: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # PostgreSQL: stored fields as read
    dialect: str | None = None
    # connector statuses the batch handed to maintenance (station -> connector -> OCPP status, the last of each)
    forwarded: dict[str, dict[str, str]] = field(default_factory=dict)

    async def load(self, station_ids: Sequence[str]) -> None:
        """Read (and on PostgreSQL lock) the stations and their connectors not loaded yet: two statements."""
        wanted = sorted({s for s in station_ids if s not in self.stations})  # sorted: a stable lock order
        for start in range(0, len(wanted), 5000):
            chunk = wanted[start : start + 5000]
            if self._postgresql():  # the driver's statements, one text whatever the size: prepared once
                found_rows, port_rows = await status_batch_pg.read(self.session, chunk)
                for s in found_rows:
                    self.loaded[s.station_id] = status_batch_pg.station_fields(s)
            else:
                query = select(stations).where(stations.c.station_id.in_(chunk)).with_for_update()
                found_rows = [station_row(r) for r in await self.session.execute(query)]
                query = select(connectors).where(connectors.c.station_id.in_(chunk))
                port_rows = [connector_row(r) for r in await self.session.execute(query)]
            found = {s.station_id: s for s in found_rows}
            for sid in chunk:
                self.stations[sid] = found.get(sid)
                self.connectors[sid] = {}
            for c in port_rows:
                self.connectors[c.station_id][(c.evse_id, c.connector_id)] = c

    def _postgresql(self) -> bool:
        if self.dialect is None:
            self.dialect = self.session.get_bind().dialect.name
        return self.dialect == "postgresql"

    async def flush(self) -> None:
        """Write what the batch changed (registered as the batch's `before_commit` hook)."""
        db = self.session
        now = datetime.now(UTC)
        self.status_groups.clear()
        for row in self.outbox_rows:
            changes = row.pop("changes", None)
            if changes is not None:  # a group of status changes: its event, now that it is complete
                envelope = Envelope(
                    event_id=row["event_id"],
                    type=ConnectorStatusesChanged.TYPE,
                    schema_version=ConnectorStatusesChanged.VERSION,
                    source=self.source,
                    payload={"changes": changes},
                )
                row["value"] = envelope.to_bytes()
        if self._postgresql():
            changed = [self.stations[s] for s in sorted(self.dirty_stations - self.new_stations)]
            whole, touched = status_batch_pg.split_touched(changed, self.loaded)
            await status_batch_pg.write(
                db,
                now=now,
                new_stations=[self.stations[s] for s in sorted(self.new_stations)],
                changed_stations=whole,
                touched_stations=touched,
                new_ports=[self.connectors[p[0]][p[1:]] for p in sorted(self.new_ports)],
                changed_ports=[self.connectors[p[0]][p[1:]] for p in sorted(self.dirty_ports - self.new_ports)],
                close_status=[(*port, at, opened) for port, (at, opened) in sorted(self.close_status.items())],
                status_rows=self.status_rows,
                close_presence=sorted(self.close_presence.items()),
                presence_rows=self.presence_rows,
                outbox_rows=self.outbox_rows,
            )
            return
        new = [self.stations[s] for s in sorted(self.new_stations)]
        if new:
            await db.execute(insert(stations), [_values(s, STATION_FIELDS) | {"updated_at": now} for s in new])
        changed = [self.stations[s] for s in sorted(self.dirty_stations - self.new_stations)]
        if changed:
            keyed = [_values(s, STATION_FIELDS[1:]) | {"updated_at": now, "k_sid": s.station_id} for s in changed]
            await db.execute(update(stations).where(stations.c.station_id == bindparam("k_sid")), keyed)
        new_ports = [self.connectors[p[0]][p[1:]] for p in sorted(self.new_ports)]
        if new_ports:
            await db.execute(insert(connectors), [_values(c, CONNECTOR_FIELDS) for c in new_ports])
        changed_ports = [self.connectors[p[0]][p[1:]] for p in sorted(self.dirty_ports - self.new_ports)]
        if changed_ports:
            c = connectors.c
            where = and_(
                c.station_id == bindparam("k_sid"),
                c.evse_id == bindparam("k_evse"),
                c.connector_id == bindparam("k_conn"),
            )
            keyed = [
                _values(p, CONNECTOR_FIELDS[3:])
                | {"k_sid": p.station_id, "k_evse": p.evse_id, "k_conn": p.connector_id}
                for p in changed_ports
            ]
            await db.execute(update(connectors).where(where), keyed)
        if self.close_status:
            h = status_history.c
            where = and_(
                h.station_id == bindparam("k_sid"),
                h.evse_id == bindparam("k_evse"),
                h.connector_id == bindparam("k_conn"),
                h.started_at == bindparam("k_start"),
                h.ended_at.is_(None),
            )
            closing = [
                {"k_sid": sid, "k_evse": evse, "k_conn": conn, "k_start": opened, "ended_at": at}
                for (sid, evse, conn), (at, opened) in sorted(self.close_status.items())
            ]
            await db.execute(update(status_history).where(where), closing)
        if self.status_rows:
            await db.execute(insert(status_history), self.status_rows)
        if self.close_presence:
            p = presence_history.c
            where = and_(p.station_id == bindparam("k_sid"), p.ended_at.is_(None))
            closing = [{"k_sid": sid, "ended_at": at} for sid, at in sorted(self.close_presence.items())]
            await db.execute(update(presence_history).where(where), closing)
        if self.presence_rows:
            await db.execute(insert(presence_history), self.presence_rows)
        if self.outbox_rows:
            await db.execute(insert(outbox_table), self.outbox_rows)

    def open_status_interval(self, port: Port, row: dict[str, Any], at: datetime, *, stored: datetime | None) -> None:
        """A port's status changed at `at`: end its current interval (this batch's, or the stored one that
        began at `stored`, the port's `since`) and start `row`."""
        previous = self.open_status.get(port)
        if previous is not None:
            previous["ended_at"] = at
        elif stored is not None:
            self.close_status[port] = (at, stored)
        row["ended_at"] = None
        self.status_rows.append(row)
        self.open_status[port] = row

    def open_presence_interval(self, station_id: str, online: bool, at: datetime) -> None:
        previous = self.open_presence.get(station_id)
        if previous is not None:
            previous["ended_at"] = at
        elif self.stations.get(station_id) is not None:  # a station new in this batch has no interval yet
            self.close_presence[station_id] = at
        row = {"station_id": station_id, "online": online, "started_at": at, "ended_at": None}
        self.presence_rows.append(row)
        self.open_presence[station_id] = row


def state_of(session: AsyncSession) -> StatusBatchState | None:
    """The batch state of `session`'s batch (created on first use), or None outside a batch."""
    batch = current_batch()
    if batch is None or batch.session is not session:
        return None
    return _state(batch)


def _current() -> StatusBatchState | None:
    batch = current_batch()
    return batch.memo.get(MEMO_KEY) if batch is not None else None


def in_current_batch(station_id: str) -> bool:
    """Whether the current task's consumer batch holds the station's rows (read, or known not to exist)."""
    state = _current()
    return state is not None and station_id in state.stations


def note_forwarded(station_id: str, connector: str, status: str) -> None:
    """A connector status the current batch hands to maintenance (written with the batch's commit)."""
    state = _current()
    if state is not None:
        state.forwarded.setdefault(station_id, {})[connector] = status


def _state(batch: Batch) -> StatusBatchState:
    state: StatusBatchState | None = batch.memo.get(MEMO_KEY)
    if state is None:
        state = batch.memo[MEMO_KEY] = StatusBatchState(batch.session)
        batch.before_commit(MEMO_KEY, state.flush)
    return state


class RunWrites(Protocol):
    """What `PrefetchingBatch` yields: where writes that go with the run's events (maintenance's connector
    statuses) are made, committed with them."""

    async def write(self, work: Callable[[AsyncSession], Awaitable[None]]) -> None: ...


@dataclass(frozen=True, slots=True)
class InBatch:
    """A run with a transaction: writes join the batch's, before its commit."""

    batch: Batch

    async def write(self, work: Callable[[AsyncSession], Awaitable[None]]) -> None:
        await work(self.batch.session)


@dataclass(frozen=True, slots=True)
class NoTransaction:
    """A run whose every event was answered from memory (`PrefetchingBatch.quiet`) opened no transaction: a
    write that still comes (a status that was quiet no longer meanwhile) gets one of its own."""

    sessions: async_sessionmaker[AsyncSession]

    async def write(self, work: Callable[[AsyncSession], Awaitable[None]]) -> None:
        async with self.sessions() as db:
            await work(db)
            await db.commit()


class PrefetchingBatch:
    """A consumer's `batch_scope`: a `TransactionBatch` whose stations (and their connectors) are read up front.

    `wake`, if given, is called after a batch that added outbox rows committed (the relay's `wake`, usually
    through `LingeringWake`; the inner `TransactionBatch` then has no relay of its own to wake). `partitions`:
    how many partitions the events topic has (set once the producer knows; `StatusGroups`)."""

    def __init__(
        self, inner: TransactionBatch, *, wake: Callable[[], None] | None = None, source: str = "diagnostics"
    ) -> None:
        self._inner = inner
        self._wake = wake
        self.source = source
        self.groups = StatusGroups(1)
        # Events answered from memory (service_layer/heard.py) and what to tell it once a batch committed or
        # failed; a run whose every event is quiet opens no transaction (its scope yields `NoTransaction`).
        self.quiet: Callable[[Envelope], bool] | None = None
        self.committed: Callable[[StatusBatchState], None] | None = None
        self.failed: Callable[[Sequence[str]], None] | None = None

    @property
    def partitions(self) -> int:
        return self.groups.partitions

    @partitions.setter
    def partitions(self, count: int) -> None:
        self.groups = StatusGroups(count)

    def __call__(self, envelopes: Sequence[Envelope]) -> Any:
        return self._scope(envelopes)

    @asynccontextmanager
    async def _scope(self, envelopes: Sequence[Envelope]) -> AsyncIterator[RunWrites]:
        quiet = self.quiet
        if quiet is not None:  # a station with any event that is not quiet has all its events in the batch
            noisy = {e.station_id for e in envelopes if not quiet(e)}
            envelopes = [e for e in envelopes if e.station_id in noisy]
            if not envelopes:
                yield NoTransaction(self._inner.factory)
                return
        state: StatusBatchState | None = None
        try:
            async with self._inner(envelopes) as batch:
                state = _state(batch)
                state.source = self.source
                batch.outbox = BatchOutbox(batch.session, state, self.groups)  # the batch's units of work take it
                await state.load([e.station_id for e in envelopes if e.station_id])
                yield InBatch(batch)
        except BaseException:
            if self.failed is not None and state is not None:
                self.failed(list(state.stations))
            raise
        if self.committed is not None and state is not None:
            self.committed(state)
        if self._wake is not None and batch.outbox.added:  # committed: the inner scope raised otherwise
            self._wake()


class LingeringWake:
    """The relay woken `linger_s` after a batch's commit, once for every commit in that time.

    A fetch of the station events is handled as one batch per partition (six), each committing on its own:
    each commit woke the relay, whose every round (a pooled connection, its lock, the read, the broker's
    acknowledgements, the marking, the commit) costs milliseconds of CPU whatever its size. Waiting a
    moment lets one round publish what several batches committed; each change then reaches the bus up to
    `linger_s` later."""

    def __init__(self, wake: Callable[[], None], linger_s: float) -> None:
        self._wake, self._linger_s = wake, linger_s
        self._due: asyncio.TimerHandle | None = None

    def __call__(self) -> None:
        if self._linger_s <= 0:
            self._wake()
        elif self._due is None:
            self._due = asyncio.get_running_loop().call_later(self._linger_s, self._fire)

    @property
    def pending(self) -> bool:
        """A wake is due (a commit is waiting for the relay)."""
        return self._due is not None

    def _fire(self) -> None:
        self._due = None
        self._wake()


class StatusGroups:
    """Which partition of the events topic a station's events go to (the producer's default partitioner over
    its key, remembered per station), so that a group of status changes is keyed like each of its stations."""

    def __init__(self, partitions: int) -> None:
        self.partitions = max(1, partitions)
        self._all = list(range(self.partitions))
        self._partitioner = DefaultPartitioner()
        self._of: dict[str, int] = {}

    def partition(self, station_id: str) -> int:
        found = self._of.get(station_id)
        if found is None:
            if len(self._of) > 100_000:
                self._of.clear()
            found = self._of[station_id] = self._partitioner(station_key(station_id), self._all, self._all)
        return found


class BatchOutbox(Outbox):
    """The batch's outbox: events wait in its memory and go in with its other rows in one statement at the
    commit (in call order), instead of one ORM object each, flushed one by one.

    Status changes (`add_status_change`) are grouped: one `ConnectorStatusesChanged` row per partition of the
    events topic, keyed by its first station, takes the changes of every station on that partition until
    another event is added (which closes every group, so the events keep their order: a fault's change, then
    its alert, then the next change in a new group). A record per change (its envelope, its outbox row, the
    relay's read, marking and send) was most of the service's cost per status event."""

    def __init__(self, session: AsyncSession, state: StatusBatchState, groups: StatusGroups | None = None) -> None:
        super().__init__(session)
        self._state = state
        self._groups = groups or StatusGroups(1)

    def add(self, topic: str, envelope: Envelope, key: bytes | None = None) -> None:
        row = {"topic": topic, "key": key, "value": envelope.to_bytes(), "event_id": envelope.event_id}
        self._state.outbox_rows.append(row | {"created_at": datetime.now(UTC)})
        self._state.status_groups.clear()
        self.added += 1  # the batch wakes the relay after its commit

    def add_status_change(self, topic: str, station_id: str, change: dict[str, Any]) -> None:
        """A connector's change (`ConnectorStatusChange`'s fields, JSON-ready) into its partition's open group."""
        partition = self._groups.partition(station_id)
        row = self._state.status_groups.get(partition)
        if row is None:
            row = {"topic": topic, "key": station_key(station_id), "value": b"", "event_id": uuid4()}
            row |= {"created_at": datetime.now(UTC), "changes": []}
            self._state.outbox_rows.append(row)
            self._state.status_groups[partition] = row
            self.added += 1
        row["changes"].append(change)


class StatusChangeEvents:
    """Status changes outside a consumer batch: each one a `ConnectorStatusesChanged` of its own in the outbox."""

    def __init__(self, outbox: Outbox, source: str) -> None:
        self._outbox, self._source = outbox, source

    def add_status_change(self, topic: str, station_id: str, change: dict[str, Any]) -> None:
        event = ConnectorStatusesChanged(changes=[ConnectorStatusChange.model_validate(change)])
        self._outbox.add(topic, envelope_for(event, source=self._source), key=station_key(station_id))


def _values(row: Any, fields: Sequence[str]) -> dict[str, Any]:
    return {k: getattr(row, k) for k in fields}

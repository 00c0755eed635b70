"""Tariff versions, their assignment to stations, groups and the default, and the sessions being priced."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, and_, any_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from voltline_store import UTCDateTime, current_batch, custom_plans

from voltline_billing.adapters.orm import billing_sessions, station_groups, tariff_assignments, tariffs
from voltline_billing.domain.tariffs import Tariff

DEFAULT_SCOPE = ("default", "")
_LOOKUPS = "billing.tariff.lookups"  # (query, *arguments) -> answer, for the rest of a consumer's batch
_MISSING = object()


def one_of(session: AsyncSession, column: Any, values: list[str]) -> Any:
    """`column IN values`; on PostgreSQL `= ANY(array)`, one statement text whatever the count (an IN list of a
    new length is a new statement for asyncpg to prepare, and a batch's counts vary). Run it inside
    `custom_plans`: one text is one prepared statement, whose generic plan, made while a new store's tables
    were empty, is a sequential scan of the whole table (billing_sessions, session_costs grow with every
    session) until an ANALYZE."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("values", values, type_=ARRAY(String)))
    return column.in_(values)


async def prefetch_session_rows(
    session: AsyncSession, batch: Any, key: str, table: Any, rows: dict[str, dict[str, Any] | None], session_id: str
) -> None:
    """Read, once per batch (memo `key`), the rows of `table` of every session the batch's events name and
    `rows` does not hold yet (None: no row), 500 ids a statement; later misses read one row each."""
    if batch.memo.get((key, "done")):
        return
    batch.memo[(key, "done")] = True
    wanted = sorted({e.session_id for e in batch.envelopes if e.session_id} - rows.keys() | {session_id})
    async with custom_plans(session):  # see one_of
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows.update(dict.fromkeys(chunk))
            for found in await session.execute(select(table).where(one_of(session, table.c.session_id, chunk))):
                rows[found.session_id] = dict(found._mapping)


def row_as_stored(table: Any, values: dict[str, Any]) -> dict[str, Any] | None:
    """The row an INSERT of `values` into `table` reads back, made without reading it (a batch's new session
    is read by its next event: one SELECT per start saved), or None where that is not certain: a value other
    than text, a whole number or an aware datetime, or a column default other than a constant. Datetimes come
    back in UTC (UTCDateTime)."""
    row: dict[str, Any] = {}
    for column in table.columns:
        if column.name in values:
            value = values[column.name]
        elif column.default is None and column.server_default is None:
            value = None
        elif column.default is not None and column.default.is_scalar and column.server_default is None:
            value = column.default.arg
        else:
            return None
        if isinstance(value, datetime):
            if not isinstance(column.type, UTCDateTime) or value.utcoffset() is None:
                return None
            value = value.astimezone(UTC)
        elif value is not None and type(value) not in (str, int):
            return None
        row[column.name] = value
    return row if values.keys() <= row.keys() else None


def remember_added(rows: dict[str, dict[str, Any] | None], table: Any, values: dict[str, Any]) -> None:
    """After a batch's INSERT: its copy of the row as stored, where `row_as_stored` is certain, else none (read
    again at the next `get`)."""
    row = row_as_stored(table, values)
    if row is None:
        rows.pop(values.get("session_id", ""), None)
    else:
        rows[row["session_id"]] = row


def _batch_stations() -> set[str]:
    batch = current_batch()
    return {e.station_id for e in batch.envelopes if e.station_id} if batch is not None else set()


class TariffRepository:
    """Inside a consumer's batch, the lookups that price a session (group, assignment, version in force) are read
    once per batch: the groups and station assignments of every station the batch names in one query each, a
    group's or the default's assignments and a tariff's versions once, then answered for any instant in memory
    (the same answers as the queries below). Every session.updated of the cost path resolves its tariff, and a
    batch holds many updates of many sessions. A write through this repository forgets them."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session
        batch = current_batch()
        self._batch = batch if batch is not None and batch.session is session else None

    def _lookups(self) -> dict[tuple[Any, ...], Any] | None:
        if self._batch is None:
            return None
        lookups: dict[tuple[Any, ...], Any] = self._batch.memo.setdefault(_LOOKUPS, {})
        return lookups

    def _forget_lookups(self) -> None:
        batch = current_batch()
        if batch is not None:
            batch.memo.pop(_LOOKUPS, None)

    async def latest_version(self, tariff_id: str) -> int | None:
        query = select(func.max(tariffs.c.version)).where(tariffs.c.tariff_id == tariff_id)
        latest: int | None = (await self._s.execute(query)).scalar()
        return latest

    async def add(self, tariff: Tariff, created_at: datetime) -> None:
        self._forget_lookups()
        await self._s.execute(
            insert(tariffs).values(
                tariff_id=tariff.tariff_id,
                version=tariff.version,
                currency=tariff.currency,
                valid_from=tariff.valid_from,
                body=tariff.model_dump(mode="json"),
                created_at=created_at,
            )
        )

    async def get(self, tariff_id: str, version: int | None = None) -> Tariff | None:
        query = select(tariffs.c.body).where(tariffs.c.tariff_id == tariff_id)
        query = query.where(tariffs.c.version == version) if version else query.order_by(tariffs.c.version.desc())
        body = (await self._s.execute(query.limit(1))).scalar()
        return None if body is None else Tariff.model_validate(body)

    async def valid_at(self, tariff_id: str, at: datetime) -> Tariff | None:
        """The version in force at `at`: the newest whose valid_from is not after it."""
        lookups = self._lookups()
        if lookups is not None:  # a batch: the tariff's versions read once, answered for every instant here
            key = ("versions", tariff_id)
            versions = lookups.get(key)
            if versions is None:
                query = select(tariffs.c.version, tariffs.c.valid_from, tariffs.c.body).where(
                    tariffs.c.tariff_id == tariff_id
                )
                rows = (await self._s.execute(query.order_by(tariffs.c.version.desc()))).all()
                versions = lookups[key] = [[valid_from, body] for _, valid_from, body in rows]
            for version in versions:
                if version[0] is None or version[0] <= at:
                    if not isinstance(version[1], Tariff):
                        version[1] = Tariff.model_validate(version[1])
                    return version[1]  # type: ignore[no-any-return]
            return None
        query = (
            select(tariffs.c.body)
            .where(tariffs.c.tariff_id == tariff_id, or_(tariffs.c.valid_from.is_(None), tariffs.c.valid_from <= at))
            .order_by(tariffs.c.version.desc())
            .limit(1)
        )
        body = (await self._s.execute(query)).scalar()
        return None if body is None else Tariff.model_validate(body)

    async def versions(self, tariff_id: str) -> list[Tariff]:
        query = select(tariffs.c.body).where(tariffs.c.tariff_id == tariff_id).order_by(tariffs.c.version)
        return [Tariff.model_validate(body) for body in (await self._s.execute(query)).scalars()]

    async def list_latest(self, limit: int, offset: int) -> list[Tariff]:
        newest = (
            select(tariffs.c.tariff_id, func.max(tariffs.c.version).label("v")).group_by(tariffs.c.tariff_id).subquery()
        )
        query = (
            select(tariffs.c.body)
            .join(newest, and_(tariffs.c.tariff_id == newest.c.tariff_id, tariffs.c.version == newest.c.v))
            .order_by(tariffs.c.tariff_id)
            .limit(limit)
            .offset(offset)
        )
        return [Tariff.model_validate(body) for body in (await self._s.execute(query)).scalars()]

    async def has_assignment(self, scope: str, scope_id: str) -> bool:
        query = select(func.count()).where(
            tariff_assignments.c.scope == scope, tariff_assignments.c.scope_id == scope_id
        )
        return bool((await self._s.execute(query)).scalar())

    async def assign(
        self, scope: str, scope_id: str, tariff_id: str, valid_from: datetime | None, now: datetime
    ) -> None:
        self._forget_lookups()
        await self._s.execute(
            insert(tariff_assignments).values(
                scope=scope, scope_id=scope_id, tariff_id=tariff_id, valid_from=valid_from, created_at=now
            )
        )

    async def assigned_at(self, scope: str, scope_id: str, at: datetime) -> str | None:
        lookups = self._lookups()
        if lookups is not None:  # a batch: a scope's assignments read once, answered for every instant here
            found = lookups.get(("assignments", scope, scope_id))
            if found is None:
                found = await self._assignments(lookups, scope, scope_id)
            for tariff_id, valid_from in found:  # newest first
                if valid_from is None or valid_from <= at:
                    return tariff_id  # type: ignore[no-any-return]
            return None
        c = tariff_assignments.c
        query = (
            select(c.tariff_id)
            .where(c.scope == scope, c.scope_id == scope_id, or_(c.valid_from.is_(None), c.valid_from <= at))
            .order_by(c.id.desc())
            .limit(1)
        )
        answer: str | None = (await self._s.execute(query)).scalar()
        return answer

    async def _assignments(self, lookups: dict[tuple[Any, ...], Any], scope: str, scope_id: str) -> list[Any]:
        """A scope's assignments, newest first; for a station, those of every station the batch names at once."""
        c = tariff_assignments.c
        wanted = [scope_id]
        if scope == "station":
            wanted = sorted(_batch_stations() - {k[2] for k in lookups if k[:2] == ("assignments", "station")})
            wanted = wanted if scope_id in wanted else [*wanted, scope_id]
        async with custom_plans(self._s):  # see one_of
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                for one in chunk:
                    lookups[("assignments", scope, one)] = []
                query = select(c.scope_id, c.tariff_id, c.valid_from).where(
                    c.scope == scope, one_of(self._s, c.scope_id, chunk)
                )
                for row in await self._s.execute(query.order_by(c.id.desc())):
                    lookups[("assignments", scope, row.scope_id)].append((row.tariff_id, row.valid_from))
        found: list[Any] = lookups[("assignments", scope, scope_id)]
        return found

    async def scopes(self) -> list[tuple[str, str]]:
        """Every (scope, scope_id) that was ever assigned a tariff."""
        c = tariff_assignments.c
        query = select(c.scope, c.scope_id).distinct().order_by(c.scope, c.scope_id)
        return [(row.scope, row.scope_id) for row in await self._s.execute(query)]

    async def group_of(self, station_id: str) -> str | None:
        lookups, key = self._lookups(), ("group_of", station_id)
        if lookups is not None and (known := lookups.get(key, _MISSING)) is not _MISSING:
            return known  # type: ignore[no-any-return]
        if lookups is None:
            query = select(station_groups.c.group_id).where(station_groups.c.station_id == station_id)
            found: str | None = (await self._s.execute(query)).scalar()
            return found
        # A batch: the groups of every station it names not asked yet, in one query.
        wanted = sorted(_batch_stations() - {k[1] for k in lookups if k[0] == "group_of"} | {station_id})
        async with custom_plans(self._s):  # see one_of
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                lookups.update({("group_of", one): None for one in chunk})
                query = select(station_groups.c.station_id, station_groups.c.group_id)
                for row in await self._s.execute(query.where(one_of(self._s, station_groups.c.station_id, chunk))):
                    lookups[("group_of", row.station_id)] = row.group_id
        return lookups[key]  # type: ignore[no-any-return]

    async def set_group(self, station_id: str, group_id: str) -> None:
        self._forget_lookups()
        await self._s.execute(station_groups.delete().where(station_groups.c.station_id == station_id))
        await self._s.execute(insert(station_groups).values(station_id=station_id, group_id=group_id))

    async def group_members(self, group_id: str) -> list[str]:
        query = select(station_groups.c.station_id).where(station_groups.c.group_id == group_id)
        return list((await self._s.execute(query.order_by(station_groups.c.station_id))).scalars())


_ROWS = "billing.session.rows"  # session id -> its row (None: unknown), read for the whole batch at once
_DIRTY = "billing.session.dirty"  # session id -> the columns this batch changed, written at its commit


class SessionRepository:
    """Billing's own view of sessions in progress: enough to know the tariff and show a running cost.

    Inside a consumer batch (ADR 0008) the rows of every session the batch's events name are read in one
    query at the first `get`, and the updates of all of them are written at the batch's commit in one
    executemany per set of changed columns: a batch of session.updated costs a couple of statements, not
    two per session (or per event). What the handlers see is the same as statement by statement.
    """

    def __init__(self, session: AsyncSession) -> None:
        self._s = session
        batch = current_batch()
        self._batch = batch if batch is not None and batch.session is session else None

    async def get(self, session_id: str) -> dict[str, Any] | None:
        if self._batch is None:
            return await self._read(session_id)
        rows: dict[str, dict[str, Any] | None] = self._batch.memo.setdefault(_ROWS, {})
        if session_id not in rows:
            await self._prefetch(rows, session_id)
        if session_id not in rows:
            rows[session_id] = await self._read(session_id)
        row = rows[session_id]
        return None if row is None else dict(row)

    async def _read(self, session_id: str) -> dict[str, Any] | None:
        found = (
            await self._s.execute(select(billing_sessions).where(billing_sessions.c.session_id == session_id))
        ).first()
        return None if found is None else dict(found._mapping)

    async def _prefetch(self, rows: dict[str, dict[str, Any] | None], session_id: str) -> None:
        """The rows of the batch's sessions not read yet (once per batch: later misses read one row)."""
        assert self._batch is not None
        await prefetch_session_rows(self._s, self._batch, _ROWS, billing_sessions, rows, session_id)

    async def add(self, **values: Any) -> None:
        await self._s.execute(insert(billing_sessions).values(**values))
        if self._batch is not None:
            rows = self._batch.memo.get(_ROWS)
            if rows is not None:  # the batch's copy of the new row, or read again if asked
                remember_added(rows, billing_sessions, values)

    async def update(self, session_id: str, **values: Any) -> None:
        batch = self._batch
        row = batch.memo.get(_ROWS, {}).get(session_id) if batch is not None else None
        if batch is None or row is None:
            await self._write(session_id, values)
            return
        row.update(values)
        dirty: dict[str, dict[str, Any]] | None = batch.memo.get(_DIRTY)
        if dirty is None:
            dirty = batch.memo[_DIRTY] = {}
            batch.before_commit(_DIRTY, self._write_dirty)
        dirty.setdefault(session_id, {}).update(values)

    async def _write_dirty(self) -> None:
        """Every session this batch changed: one executemany per set of changed columns."""
        assert self._batch is not None
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for session_id, values in self._batch.memo.pop(_DIRTY, {}).items():
            groups.setdefault(tuple(sorted(values)), []).append({"_id": session_id, **values})
        for columns, params in groups.items():
            stmt = (
                update(billing_sessions)
                .where(billing_sessions.c.session_id == bindparam("_id"))
                .values({name: bindparam(name) for name in columns})
            )
            await self._s.execute(stmt, params)

    async def _write(self, session_id: str, values: dict[str, Any]) -> None:
        await self._s.execute(
            update(billing_sessions).where(billing_sessions.c.session_id == session_id).values(**values)
        )

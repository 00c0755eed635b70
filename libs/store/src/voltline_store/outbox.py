"""Transactional outbox and idempotent inbox.

A service never publishes to Kafka inside a request: it adds the event to `outbox` in the same
transaction as the state change that caused it, and the relay publishes committed rows afterwards.
So either both the change and its events happen or neither does. Consumers record each event id in
`inbox` in the same transaction as the effects of handling it, so a redelivered event changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, registry
from voltline_bus.tracing import stamped
from voltline_events import Envelope

from voltline_store.results import rowcount
from voltline_store.types import UTCDateTime

OUTBOX = "outbox"
INBOX = "inbox"
UNPUBLISHED_INDEX = "ix_outbox_unpublished"
INBOX_PROCESSED_INDEX = "ix_inbox_processed_at"
_UNPUBLISHED = "published_at IS NULL"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _outbox_columns() -> list[sa.Column[Any]]:
    return [
        # INTEGER PRIMARY KEY is SQLite's rowid; BIGINT would not autoincrement there.
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(249), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False, default=_utcnow),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, default=0, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
    ]


def _inbox_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("consumer", sa.String(200), primary_key=True),
        sa.Column("event_id", sa.Uuid(), primary_key=True),
        sa.Column("processed_at", UTCDateTime(), nullable=False, default=_utcnow),
    ]


_INDEX_WHERE_SQL = sa.text(_UNPUBLISHED)


@dataclass(frozen=True)
class OutboxTables:
    outbox: sa.Table
    inbox: sa.Table


def define_outbox_tables(metadata: sa.MetaData) -> OutboxTables:
    """Add `outbox` and `inbox` to a service's metadata, so its autogenerate sees them as its own."""
    outbox = sa.Table(OUTBOX, metadata, *_outbox_columns(), sqlite_autoincrement=True)
    # The relay's only query: unpublished rows in id order. Partial, so it stays as small as the backlog.
    sa.Index(UNPUBLISHED_INDEX, outbox.c.id, postgresql_where=_INDEX_WHERE_SQL, sqlite_where=_INDEX_WHERE_SQL)
    inbox = sa.Table(INBOX, metadata, *_inbox_columns())
    sa.Index(INBOX_PROCESSED_INDEX, inbox.c.processed_at)
    return OutboxTables(outbox=outbox, inbox=inbox)


def create_outbox_tables_op() -> None:
    """Create both tables from a service's first Alembic migration (`upgrade()`)."""
    from alembic import op

    op.create_table(OUTBOX, *_outbox_columns(), sqlite_autoincrement=True)
    op.create_index(UNPUBLISHED_INDEX, OUTBOX, ["id"], postgresql_where=_INDEX_WHERE_SQL, sqlite_where=_INDEX_WHERE_SQL)
    op.create_table(INBOX, *_inbox_columns())
    op.create_index(INBOX_PROCESSED_INDEX, INBOX, ["processed_at"])


def drop_outbox_tables_op() -> None:
    """Drop both tables from that migration's `downgrade()`."""
    from alembic import op

    op.drop_index(INBOX_PROCESSED_INDEX, table_name=INBOX)
    op.drop_table(INBOX)
    op.drop_index(UNPUBLISHED_INDEX, table_name=OUTBOX)
    op.drop_table(OUTBOX)


# The library's own copy of the tables, for the statements it issues: SQL needs only names and columns,
# so it doesn't matter which service metadata created them.
_tables = define_outbox_tables(sa.MetaData())
outbox_table = _tables.outbox
inbox_table = _tables.inbox


class OutboxMessage:
    """One outbox row, mapped for code that reads or adds rows through the ORM (`Outbox.add` no longer does)."""

    id: int
    topic: str
    key: bytes | None
    value: bytes
    event_id: UUID
    created_at: datetime
    published_at: datetime | None
    attempts: int
    last_error: str | None

    def __init__(self, *, topic: str, key: bytes | None, value: bytes, event_id: UUID, created_at: datetime) -> None:
        self.topic = topic
        self.key = key
        self.value = value
        self.event_id = event_id
        self.created_at = created_at
        self.attempts = 0


registry().map_imperatively(OutboxMessage, outbox_table)


# Rows `Outbox.add` queued in a session and not yet inserted: (topic, key, value, event_id), in call order.
_PENDING = "voltline_outbox_pending"
_COLUMNS = ("topic", "key", "value", "event_id", "created_at")
_Processor = Callable[[Any], Any] | None
_insert_sql: dict[str, tuple[str, list[_Processor]]] = {}


def _bulk_insert(dialect: Dialect) -> tuple[str, list[_Processor]]:
    """The INSERT text in the driver's own parameter style and each column's bind processor, once per dialect."""
    cached = _insert_sql.get(dialect.name)
    if cached is None:
        style = dialect.paramstyle
        marks = [f"${i}" if style == "numeric_dollar" else "%s" if style == "format" else "?" for i in range(1, 6)]
        if style not in ("numeric_dollar", "format", "qmark"):
            raise NotImplementedError(f"outbox bulk insert: paramstyle {style!r}")
        sql = f"INSERT INTO {OUTBOX} ({', '.join(_COLUMNS)}) VALUES ({', '.join(marks)})"
        cached = _insert_sql[dialect.name] = (
            sql,
            [outbox_table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in _COLUMNS],
        )
    return cached


def _write_pending(session: Session) -> None:
    """Insert the session's queued rows: one driver-level executemany, the timestamp encoded once, no ORM objects.

    Ids follow call order, as the ORM's one-INSERT-per-row flush gave them (the relay publishes in id order)."""
    pending: list[tuple[str, bytes | None, bytes, UUID]] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    conn = session.connection()
    sql, (topic_p, key_p, value_p, id_p, created_p) = _bulk_insert(conn.dialect)
    now = _utcnow()
    created = created_p(now) if created_p else now
    if topic_p is None and key_p is None and value_p is None:
        if id_p is None:
            params = [(t, k, v, i, created) for t, k, v, i in pending]
        else:
            params = [(t, k, v, id_p(i), created) for t, k, v, i in pending]
    else:
        params = [
            (
                topic_p(t) if topic_p else t,
                key_p(k) if key_p and k is not None else k,
                value_p(v) if value_p else v,
                id_p(i) if id_p else i,
                created,
            )
            for t, k, v, i in pending
        ]
    conn.exec_driver_sql(sql, params)


def _touches_outbox(statement: Any) -> bool:
    """Whether a statement names the outbox table (by name: each service declares its own copy of it).

    Runs before every statement a session executes while rows are queued (each statement of a consumer batch
    that publishes), so a SELECT's tables are read from its own parts (columns, explicit FROMs, WHERE), not
    from `get_final_froms()`, which builds the statement's compile state (for an ORM select, most of a
    compilation: 13% of the session service's batch CPU). Same answer: the union of those parts' tables is
    the tables of the final FROM list (which only regroups them into joins)."""
    table = getattr(statement, "table", None)  # INSERT / UPDATE / DELETE
    if table is not None:
        return getattr(table, "name", None) == OUTBOX
    if isinstance(statement, sa.TextClause):
        return OUTBOX in statement.text.lower()
    if not isinstance(statement, sa.Select):
        return False
    if statement._setup_joins:  # .join(): its targets may be ORM entities; rare in a batch, so the dear way
        froms: tuple[Any, ...] = tuple(statement.get_final_froms())
        return any(_names_outbox(f) for f in froms)
    where = statement.whereclause
    froms = (
        *statement.columns_clause_froms,
        *statement._from_obj,  # select_from(): no public accessor but get_final_froms (the cost avoided here)
        *(where._from_objects if where is not None else ()),
    )
    return any(_names_outbox(f) for f in froms)


def _names_outbox(from_: Any) -> bool:
    """A FROM element is, or contains, a table named like the outbox (a subquery or join: every table in it)."""
    if isinstance(from_, sa.TableClause):  # a Table, or the ORM's annotated copy of one
        return from_.name == OUTBOX
    return OUTBOX in {getattr(t, "name", None) for t in sa.sql.util.find_tables(from_)}


# Global, cheap listeners (a dict lookup when nothing is queued): queued rows are written before the commit
# and before a statement of the session that names the outbox (so the transaction reads its own events, as the
# ORM's autoflush gave), and forgotten with a transaction that ends without committing. Other statements do
# not write them: a consumer batch's handlers then queue all their rows for one executemany at the commit.
@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if _PENDING in session.info:
        _write_pending(session)


@event.listens_for(Session, "do_orm_execute")
def _before_execute(state: ORMExecuteState) -> None:
    if _PENDING in state.session.info and _touches_outbox(state.statement):
        _write_pending(state.session)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


class Outbox:
    """Events to publish once, and only if, the session's current transaction commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.added = 0

    def add(self, topic: str, envelope: Envelope, key: bytes | None = None) -> None:
        """Queue an event in the current transaction; it is inserted at the commit (or before a statement of
        the session that names the outbox, or at `flush()`), in call order, with the other queued rows in one
        executemany.

        With tracing on, the row keeps the trace context of the span adding it: the relay publishes later, in
        a task of its own, and the consumer's span must still continue this trace."""
        envelope = stamped(envelope)
        info = self.session.info
        pending = info.get(_PENDING)
        if pending is None:
            # Begin the session's transaction as `session.add` did, so that a rollback (or close) ending it
            # forgets the queue (`after_transaction_end`) even when no statement ran.
            self.session.sync_session._autobegin_t()
            pending = info[_PENDING] = []
        pending.append((topic, key, envelope.to_bytes(), envelope.event_id))
        self.added += 1

    def add_many(self, items: Iterable[tuple[str, Envelope, bytes | None]]) -> None:
        """`add` for each `(topic, envelope, key)`, in order."""
        for topic, envelope, key in items:
            self.add(topic, envelope, key)

    async def flush(self) -> None:
        """Insert the queued rows now (commit and every statement of the session do it anyway)."""
        if _PENDING in self.session.info:
            await self.session.run_sync(_write_pending)


class Inbox:
    """Remembers which events a consumer has handled, in the handler's own transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def first_time(self, consumer: str, event_id: UUID) -> bool:
        """Mark the event processed; False when this consumer already processed it.

        On PostgreSQL a concurrent transaction inserting the same marker waits for this one to end, so
        of two racing deliveries exactly one sees True (the other sees False once the first commits,
        or True if it rolled back).
        """
        insert = postgresql.insert if self.session.get_bind().dialect.name == "postgresql" else sqlite.insert
        stmt = (
            insert(inbox_table)
            .values(consumer=consumer, event_id=event_id, processed_at=_utcnow())
            .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
        )
        return rowcount(await self.session.execute(stmt)) == 1


async def purge_inbox(session: AsyncSession, older_than: timedelta) -> int:
    """Forget markers older than `older_than`; keep it longer than any redelivery can lag (topic retention)."""
    stmt = sa.delete(inbox_table).where(inbox_table.c.processed_at < _utcnow() - older_than)
    return rowcount(await session.execute(stmt))

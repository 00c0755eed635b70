"""One URL picks the database: `postgresql+asyncpg://...` in production, `sqlite+aiosqlite:///path` for a
single-node install or a developer's laptop. Everything dialect-specific about connecting lives here.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from sqlalchemy import URL, event, make_url, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool, QueuePool
from voltline_bus.tracing import enabled as tracing_enabled

from voltline_store.tracing import trace_statements

SQLITE_BUSY_TIMEOUT_MS = 10_000
# A pooled PostgreSQL connection that sat unused this long is pinged before it is handed out (see _ping_when_idle).
PING_AFTER_IDLE_S = 2.0
_IDLE_SINCE = "voltline_idle_since"
_WARMED = "voltline_warmed"
# Execution option: this connection only reads (SQLite then begins a deferred transaction).
READ_ONLY = "voltline_read_only"
_DEFAULT_DRIVERS = {"postgresql": "asyncpg", "sqlite": "aiosqlite"}


def normalize_url(url: str | URL) -> URL:
    """Parse a database URL, filling in the async driver when only the dialect is named."""
    parsed = make_url(url)
    if parsed.drivername == "postgres":
        parsed = parsed.set(drivername="postgresql")
    backend = parsed.get_backend_name()
    if backend not in _DEFAULT_DRIVERS:
        raise ValueError(f"unsupported database {backend!r}: use postgresql+asyncpg:// or sqlite+aiosqlite://")
    if "+" not in parsed.drivername:
        parsed = parsed.set(drivername=f"{backend}+{_DEFAULT_DRIVERS[backend]}")
    return parsed


def is_sqlite(url_or_engine: str | URL | AsyncEngine) -> bool:
    if isinstance(url_or_engine, AsyncEngine):
        return url_or_engine.dialect.name == "sqlite"
    return normalize_url(url_or_engine).get_backend_name() == "sqlite"


def create_engine(url: str | URL, *, echo: bool = False, pool_size: int = 5, max_overflow: int = 10) -> AsyncEngine:
    """Create the service's engine with the settings each dialect needs to be safe under concurrency."""
    engine = _create_engine(url, echo=echo, pool_size=pool_size, max_overflow=max_overflow)
    if tracing_enabled():  # SQL statement spans; no listeners at all (no cost) when tracing is off
        trace_statements(engine.sync_engine)
    return engine


def _create_engine(url: str | URL, *, migrating: bool = False, **kwargs: Any) -> AsyncEngine:
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, migrating=migrating, echo=kwargs.get("echo", False))
    if migrating:
        return create_async_engine(parsed, poolclass=NullPool)
    engine = create_async_engine(
        parsed,
        echo=kwargs.get("echo", False),
        pool_size=kwargs.get("pool_size", 5),
        max_overflow=kwargs.get("max_overflow", 10),
        pool_recycle=1800,
        pool_timeout=30,
    )
    _ping_when_idle(engine, PING_AFTER_IDLE_S)
    _known_arrays_on_connect(engine)
    return engine


# The array types the services' batch statements bind (`= ANY($1::uuid[])`, `unnest($1::varchar[], ...)`): asyncpg
# has no codec for them until it has asked the server, per connection (see _known_arrays_on_connect).
_ARRAY_TYPES = ("uuid", "varchar", "text", "timestamptz", "timestamp", "int2", "int4", "int8", "numeric", "float8")
_ARRAYS_STATEMENT = "SELECT " + ", ".join(f"${n}::{name}[]" for n, name in enumerate(_ARRAY_TYPES, 1))


def _known_arrays_on_connect(engine: AsyncEngine) -> None:
    """asyncpg learns a type it has no built-in codec for (the arrays above but text's) by a catalogue query, per
    connection, the first time a statement binds or returns it: three round trips (JIT off, the query, JIT back)
    and their prepares each time, ~3 times per connection in a session drain, all inside the first batches of
    every partition at once (bench/RESULTS.md, session 10). Preparing one statement naming them all when the
    connection opens asks once, before the consumers join for the connections `warm_pool` opens."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.run_async(_learn_arrays)


async def _learn_arrays(driver_connection: Any) -> None:
    await driver_connection.prepare(_ARRAYS_STATEMENT, name="")  # unnamed: nothing is left on the server


def _ping_when_idle(engine: AsyncEngine, idle_s: float) -> None:
    """A PostgreSQL restart or failover leaves dead sockets in the pool: a connection that sat in the pool longer
    than `idle_s` is pinged when it is checked out, and a dead one is replaced (the pool connects anew).

    `pool_pre_ping` pinged on every checkout: on asyncpg a ping is a BEGIN and a ROLLBACK, two round trips for
    each consumer batch (~3% of the bus floor, bench.pipeline.bus) and each API request. A connection handed back
    a moment ago is used as it is; if the server went away in that moment, the statement fails with a disconnect
    error, SQLAlchemy discards the pool's connections, and the caller's retry (a consumer's batch, the next
    request) gets a new one.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        if record.info.pop(_WARMED, False):
            return  # opened by warm_pool: its first use needs no ping, as a new connection's does not
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)  # none on a new connection (and after an invalidation)
        if since is None or time.monotonic() - since < idle_s:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(f"pooled connection failed its ping: {exc!r}") from exc


async def warm_pool(engine: AsyncEngine) -> int:
    """Open the PostgreSQL pool's connections before the service's consumers join their groups; returns how many.

    Each new connection costs a connect, the authentication, the dialect's set-up queries (server version, JSON
    codecs) and the server process's start, round trips that otherwise fell on the first batches of a drain, when
    every partition asks for a connection at once and the process has nothing else to do (bench.pipeline ingest's
    start, after a restart or a rebalance). SQLite: nothing to open."""
    if engine.dialect.name != "postgresql":
        return 0
    size = engine.pool.size() if isinstance(engine.pool, QueuePool) else 1
    connections = await asyncio.gather(*(engine.connect().start() for _ in range(size)))
    for connection in connections:
        connection.info[_WARMED] = True  # not pinged when first used (a ping is three round trips)
        await connection.close()  # back to the pool, open
    return len(connections)


def is_sqlite_in_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in database


def _sqlite_engine(url: URL, *, migrating: bool, echo: bool) -> AsyncEngine:
    database = url.database or ""
    in_memory = is_sqlite_in_memory(url)
    if not in_memory and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, echo=echo, poolclass=NullPool if migrating else None)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module (it only BEGINs before DML, so reads
        # earlier in a unit of work would run outside its transaction); `_on_begin` BEGINs instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # First: switching to WAL needs a lock, and without a busy timeout a replica starting at the
        # same moment as another fails at once with "database is locked".
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
        # Batch migrations copy and drop tables, which enforced foreign keys would cascade or refuse;
        # run_migrations checks the keys afterwards instead.
        cursor.execute(f"PRAGMA foreign_keys={'OFF' if migrating else 'ON'}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front, waiting up to busy_timeout for it. A deferred
        # transaction that reads and then writes fails at once with "database is locked" when
        # another connection wrote in between, and the busy timeout does not help it.
        # Connections marked READ_ONLY never write: in WAL mode they read without waiting for a writer
        # (a consumer's batch holding the write lock must not make /readyz time out).
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

    return engine


async def check_database(engine: AsyncEngine, *, limit_s: float = 5.0) -> None:
    """Round-trip `SELECT 1`; raises if the database cannot answer within `limit_s` (for /readyz)."""
    async with asyncio.timeout(limit_s), engine.connect() as conn:
        await conn.execution_options(**{READ_ONLY: True})
        await conn.execute(text("SELECT 1"))


def read_only_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for reads (API GETs): on SQLite a plain BEGIN, which in WAL mode reads the last commit
    without waiting for the write lock a consumer's batch holds; on PostgreSQL a READ ONLY transaction."""
    return async_sessionmaker(
        engine.execution_options(**{READ_ONLY: True, "postgresql_readonly": True}), expire_on_commit=False
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (no lazy reload, which async cannot do)."""
    return async_sessionmaker(engine, expire_on_commit=False)

"""Single-statement reads on a hot path (a decision a station is waiting for), at the lowest cost per dialect."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import URL, Engine, Row, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable

from voltline_store.engine import SQLITE_BUSY_TIMEOUT_MS, is_sqlite_in_memory


class Reader:
    """`rows = await reader.all(select(...))`: one statement, read-only, outside any unit of work.

    Through an AsyncSession a SQLite lookup costs about sixteen hand-offs to aiosqlite's thread (1.5 ms
    on an idle machine, several under load); here it is one hand-off to a worker thread that runs the
    synchronous driver (0.3 ms). Those connections are `query_only` and, in WAL mode, read the last
    committed state without waiting for a writer. PostgreSQL needs no detour (asyncpg is asynchronous):
    the statement runs on a pooled connection in a READ ONLY transaction.
    """

    def __init__(self, engine: AsyncEngine, *, threads: int = 2) -> None:
        self._engine = engine.execution_options(postgresql_readonly=True)
        self._sync: Engine | None = None
        self._threads: ThreadPoolExecutor | None = None
        if engine.dialect.name == "sqlite" and not is_sqlite_in_memory(engine.url):
            self._sync = _sqlite_reader(engine.url, pool_size=threads)
            # Its own threads: a burst of other blocking work (password hashing) must not queue lookups.
            self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="store-reader")

    async def all(self, statement: Executable) -> Sequence[Row[Any]]:
        if self._sync is None:
            async with self._engine.connect() as conn:
                return (await conn.execute(statement)).all()
        return await asyncio.get_running_loop().run_in_executor(self._threads, self._run, statement)

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=True)
        if self._sync is not None:
            self._sync.dispose()

    def _run(self, statement: Executable) -> Sequence[Row[Any]]:
        assert self._sync is not None
        with self._sync.connect() as conn:
            return conn.execute(statement).all()


def _sqlite_reader(url: URL, *, pool_size: int) -> Engine:
    engine = create_sync_engine(url.set(drivername="sqlite+pysqlite"), pool_size=pool_size, max_overflow=0)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # each statement reads in its own implicit transaction
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    return engine

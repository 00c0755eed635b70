"""Every statement of the session repository passes one gate that first inserts the batch's new sessions.

A consumer batch keeps the sessions it creates in memory and inserts them at its commit (ADR 0040), or earlier,
before a statement that could find, miss or change them: `SessionRepository._execute` (and `_execute_many`) does
that for every statement not declared `id_only` (ADR 0044), so a query added later cannot forget it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import sqlalchemy as sa
from test_new_stations import MIGRATIONS, T0, setup_events
from voltline_events import Topics
from voltline_session.adapters import repository
from voltline_session.adapters.orm import sessions
from voltline_session.adapters.repository import SessionRepository
from voltline_session.adapters.unit_of_work import SqlSessionUnitOfWork
from voltline_session.entrypoints.consumers import build_dispatcher
from voltline_session.service_layer.context import CONSUMER, SessionContext
from voltline_store import TransactionBatch, create_engine, run_migrations, session_factory

PACKAGE = Path(repository.__file__).resolve().parents[1]


class Probe(SessionRepository):
    """A query the repository does not have, written as a new one would be: no thought of the batch's memory."""

    async def on_station(self, station_id: str, *, id_only: bool = False) -> list[str]:
        query = sa.select(sessions.c.session_id).where(sessions.c.station_id == station_id)
        return list((await self._execute(query, id_only=id_only)).scalars())


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
async def test_a_new_query_finds_the_sessions_the_batch_has_not_inserted_yet(
    store: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("sqlite_url" if store == "sqlite" else "pg_url")
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    factory = session_factory(engine)
    handle = build_dispatcher(
        SessionContext(uow=lambda: SqlSessionUnitOfWork(factory), topics=Topics(""), source="test", clock=lambda: T0)
    )
    try:
        envelopes = [*setup_events("ST-1", 1), *setup_events("ST-2", 2)]
        async with TransactionBatch(factory, inbox_consumer=CONSUMER)(envelopes) as batch:
            for envelope in envelopes:
                await handle(envelope)
            probe = Probe(batch.session)
            # Declared id-only, it runs before them: the sessions are still only in the batch's memory.
            assert await probe.on_station("ST-1", id_only=True) == []
            found = await probe.on_station("ST-1")  # the gate inserted both stations' new sessions first
            assert len(found) == 1
            assert len(await probe.on_station("ST-2", id_only=True)) == 1
        # Committed once (inserted again at the commit, a session's key would have failed the batch).
        async with factory() as db:
            stored = (await db.execute(sa.select(sessions.c.station_id).order_by(sessions.c.station_id))).scalars()
            assert list(stored) == ["ST-1", "ST-2"]
    finally:
        await engine.dispose()


def _db_users(tree: ast.Module) -> set[str]:
    """The methods of `SessionRepository` that touch its database session, other than to read its dialect."""
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "SessionRepository")
    users: set[str] = set()
    for method in cls.body:
        if not isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        dialect_only = {
            id(call.args[0])
            for call in ast.walk(method)
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "insert_for"
        }
        for node in ast.walk(method):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "_db"
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
                and id(node) not in dialect_only
            ):
                users.add(method.name)
    return users


def test_every_statement_of_the_repository_goes_through_the_gate() -> None:
    tree = ast.parse(Path(repository.__file__).read_text())
    # Kept (__init__), compared with the batch's (_batch), executed on: only by the gate.
    assert _db_users(tree) == {"__init__", "_batch", "_execute", "_execute_many"}


def test_the_check_sees_a_statement_that_bypasses_the_gate() -> None:
    bypass = ast.parse(
        "class SessionRepository:\n"
        "    async def _execute(self, q):\n        return await self._db.execute(q)\n"
        "    async def sneaky(self, q):\n        return await self._db.execute(q)\n"
        "    async def seq(self):\n        return insert_for(self._db, t)\n"
    )
    assert _db_users(bypass) == {"_execute", "sneaky"}


def test_only_the_session_repository_reads_or_writes_sessions() -> None:
    """Another module's statement on the sessions or seqNos tables would not pass the gate."""
    readers = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "voltline_session.adapters.orm":
                if {alias.name for alias in node.names} & {"sessions", "seq_nos"}:
                    readers.add(path.relative_to(PACKAGE).as_posix())
    assert readers == {"adapters/repository.py"}

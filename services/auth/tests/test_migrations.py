"""The migrations build exactly the schema the code uses, on PostgreSQL and on SQLite."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from voltline_auth.adapters.orm import metadata
from voltline_auth.bootstrap import MIGRATIONS
from voltline_store import create_engine, run_migrations


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
async def test_migrated_schema_matches_the_tables(dialect: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("pg_url" if dialect == "postgresql" else "sqlite_url")
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()

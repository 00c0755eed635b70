"""Fixtures for voltline_store's tests: every database test runs on SQLite and on real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from voltline_store import UTCDateTime, create_engine, define_outbox_tables, run_migrations, session_factory

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass(frozen=True)
class Schema:
    """The test service's tables, as its code would declare them (migrations/ creates them)."""

    metadata: sa.MetaData
    stations: sa.Table
    effects: sa.Table


def _schema() -> Schema:
    metadata = sa.MetaData()
    define_outbox_tables(metadata)
    stations = sa.Table(
        "stations",
        metadata,
        sa.Column("id", sa.String(48), primary_key=True),
        sa.Column("status", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("vendor", sa.String(64), nullable=False, server_default="unknown"),
    )
    effects = sa.Table(
        "effects",
        metadata,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("station_id", sa.String(48), sa.ForeignKey("stations.id"), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
    )
    return Schema(metadata, stations, effects)


SCHEMA = _schema()


@pytest.fixture
def schema() -> Schema:
    return SCHEMA


@pytest.fixture
def migrations_dir() -> Path:
    return MIGRATIONS


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh, empty database of each kind."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated database, as a service has it after start-up."""
    await run_migrations(db_url, MIGRATIONS)
    engine = create_engine(db_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)

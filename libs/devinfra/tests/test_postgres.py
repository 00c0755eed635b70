"""Real PostgreSQL through the fixtures, plus the SQLite URL fixture."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from voltline_devinfra._proc import port_open
from voltline_devinfra.postgres import ExternalPostgres, PostgresServer


async def _scalar(url: str, sql: str) -> object:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql))).scalar_one()
    finally:
        await engine.dispose()


async def test_pg_url_select_one(pg_url: str) -> None:
    assert pg_url.startswith("postgresql+asyncpg://")
    assert await _scalar(pg_url, "select 1") == 1


async def test_each_test_gets_its_own_database(pg_url: str, postgres: PostgresServer) -> None:
    engine = create_async_engine(pg_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("create table marker (id int)"))
    finally:
        await engine.dispose()
    other = await postgres.acreate_database("devinfra_other")  # async variant inside a running loop
    try:
        assert await _scalar(other, "select count(*) from pg_tables where tablename = 'marker'") == 0
    finally:
        await postgres.adrop_database("devinfra_other")


async def test_sqlite_url(sqlite_url: str, tmp_path: os.PathLike[str]) -> None:
    assert sqlite_url == f"sqlite+aiosqlite:///{tmp_path}/test.db"
    assert await _scalar(sqlite_url, "select 1") == 1


def test_server_stops_and_cleans_up() -> None:
    with PostgresServer() as server:
        work_dir, port = server.work_dir, server.port
        assert port_open(server.host, port)
        assert server.create_database("plain_sync").endswith(f":{port}/plain_sync")
    assert not server.is_running
    assert not work_dir.exists()
    assert not port_open("127.0.0.1", port)


def test_unsafe_database_name_rejected(postgres: PostgresServer) -> None:
    with pytest.raises(ValueError, match="unsafe"):
        postgres.create_database('x"; drop database postgres; --')


def test_external_postgres_urls() -> None:
    ext = ExternalPostgres("postgresql+asyncpg://u:pw@db.example:5433/admin?ssl=disable")
    assert ext.url("t_1") == "postgresql+asyncpg://u:pw@db.example:5433/t_1?ssl=disable"
    assert ext.admin_dsn() == "postgresql://u:pw@db.example:5433/admin?ssl=disable"
    assert ExternalPostgres("postgres://h/").admin_dsn() == "postgresql://h/postgres"

"""Migrations: applied programmatically and from the alembic CLI, idempotent, safe to run concurrently."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from voltline_store import create_engine, define_outbox_tables, run_migrations


async def _inspect(url: str) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:

            def read(sync: sa.Connection) -> dict[str, Any]:
                insp = sa.inspect(sync)
                return {
                    "tables": set(insp.get_table_names()),
                    "outbox_indexes": {ix["name"] for ix in insp.get_indexes("outbox")},
                    "station_columns": {c["name"] for c in insp.get_columns("stations")},
                    "inbox_pk": insp.get_pk_constraint("inbox")["constrained_columns"],
                    "version": sync.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one(),
                }

            return await conn.run_sync(read)
    finally:
        await engine.dispose()


async def test_migrations_create_tables_and_are_rerunnable(db_url: str, migrations_dir: Path) -> None:
    await run_migrations(db_url, migrations_dir)
    first = await _inspect(db_url)
    assert {"outbox", "inbox", "stations", "effects", "alembic_version"} <= first["tables"]
    assert "ix_outbox_unpublished" in first["outbox_indexes"]
    assert "vendor" in first["station_columns"]  # 0002 ran (batch mode on SQLite)
    assert first["inbox_pk"] == ["consumer", "event_id"]
    assert first["version"] == "0002"

    await run_migrations(db_url, migrations_dir)
    assert await _inspect(db_url) == first


async def test_concurrent_migrations_in_one_process(db_url: str, migrations_dir: Path) -> None:
    await asyncio.gather(*(run_migrations(db_url, migrations_dir) for _ in range(3)))
    assert (await _inspect(db_url))["version"] == "0002"


async def test_replicas_starting_together_migrate_once(db_url: str, migrations_dir: Path, tmp_path: Path) -> None:
    """Replicas (separate processes) all migrate at start-up; none may fail on another's DDL."""
    await asyncio.gather(
        *(
            asyncio.to_thread(_alembic_cli, tmp_path, migrations_dir, ["-x", f"url={db_url}", "upgrade", "head"], {})
            for _ in range(2)
        )
    )
    assert (await _inspect(db_url))["version"] == "0002"


async def test_declared_tables_match_the_migration(db_url: str, migrations_dir: Path) -> None:
    """define_outbox_tables (what autogenerate sees) and create_outbox_tables_op (what runs) agree."""
    await run_migrations(db_url, migrations_dir)
    metadata = sa.MetaData()
    define_outbox_tables(metadata)
    ours = {"outbox", "inbox"}

    def include_name(name: str | None, type_: str, parent: Any) -> bool:
        return type_ != "table" or name in ours

    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"include_name": include_name, "compare_type": True}),
                    metadata,
                )
            )
    finally:
        await engine.dispose()
    assert diff == []


def _alembic_cli(tmp_path: Path, migrations_dir: Path, args: list[str], env: dict[str, str]) -> None:
    ini = tmp_path / "alembic.ini"
    ini.write_text(f"[alembic]\nscript_location = {migrations_dir}\n")
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ini), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


async def test_alembic_cli_with_x_url(db_url: str, migrations_dir: Path, tmp_path: Path) -> None:
    await asyncio.to_thread(_alembic_cli, tmp_path, migrations_dir, ["-x", f"url={db_url}", "upgrade", "head"], {})
    assert (await _inspect(db_url))["version"] == "0002"
    await asyncio.to_thread(_alembic_cli, tmp_path, migrations_dir, ["-x", f"url={db_url}", "downgrade", "0001"], {})
    assert "vendor" not in (await _inspect(db_url))["station_columns"]
    await run_migrations(db_url, migrations_dir)  # and back up, programmatically
    assert (await _inspect(db_url))["version"] == "0002"


async def test_alembic_cli_with_env_url(sqlite_url: str, migrations_dir: Path, tmp_path: Path) -> None:
    env = {"VOLTLINE_DATABASE_URL": sqlite_url}
    await asyncio.to_thread(_alembic_cli, tmp_path, migrations_dir, ["upgrade", "head"], env)
    assert (await _inspect(sqlite_url))["version"] == "0002"


def test_alembic_cli_offline_sql(sqlite_url: str, migrations_dir: Path, tmp_path: Path) -> None:
    ini = tmp_path / "alembic.ini"
    ini.write_text(f"[alembic]\nscript_location = {migrations_dir}\n")
    out = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ini), "-x", "url=postgresql://u@h/db", "upgrade", "head", "--sql"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert "CREATE TABLE outbox" in out
    assert "WHERE published_at IS NULL" in out

"""The body of every service's `migrations/env.py`, which is just::

    from voltline_store.alembic_env import run
    from my_service.db import metadata

    run(target_metadata=metadata)

It works both under `run_migrations` (which hands over an open connection) and from the alembic CLI
(`alembic -x url=... upgrade head`, or with VOLTLINE_DATABASE_URL set), online and `--sql`.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import structlog
from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, MetaData, text

from voltline_store.engine import _create_engine, is_sqlite, normalize_url
from voltline_store.types import UTCDateTime

URL_ENV = "VOLTLINE_DATABASE_URL"
# Any constant will do: advisory locks are per database, and each service has its own database.
MIGRATION_LOCK_KEY = 0x766F6C746C696E65  # "voltline"

log = structlog.get_logger(__name__)


def database_url() -> str:
    """The URL to migrate: run_migrations' own, else `-x url=`, else $VOLTLINE_DATABASE_URL, else the ini."""
    config = context.config
    url = (
        config.attributes.get("url")
        or context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get(URL_ENV)
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise RuntimeError(f"no database URL: pass -x url=..., or set {URL_ENV}")
    return normalize_url(url).render_as_string(hide_password=False)


def run(target_metadata: MetaData | list[MetaData] | None = None, **configure_kwargs: Any) -> None:
    """Run the migrations Alembic asked for; extra keyword arguments go to `context.configure`."""
    url = database_url()
    options: dict[str, Any] = {
        "target_metadata": target_metadata,
        "render_as_batch": is_sqlite(url),  # SQLite can't ALTER most things; batch mode copies the table
        "compare_type": True,
        "render_item": _render_item,
        "on_version_apply": _log_step,
        **configure_kwargs,
    }
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"}, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_on_connection(connection, options)
    else:
        asyncio.run(_run_online(url, options))


async def _run_online(url: str, options: dict[str, Any]) -> None:
    engine = _create_engine(url, migrating=True)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(run_on_connection, options)
    finally:
        await engine.dispose()


def run_on_connection(connection: Connection, options: dict[str, Any]) -> None:
    """Migrate inside the connection's transaction, which the caller commits."""
    if connection.dialect.name == "postgresql":
        # Replicas of a service start together; the second waits here, then finds nothing to do.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    # SQLite: the engine BEGINs IMMEDIATE, which serializes concurrent migrators the same way, and
    # makes its DDL transactional too.
    context.configure(connection=connection, transactional_ddl=True, **options)
    with context.begin_transaction():
        context.run_migrations()
    if connection.dialect.name == "sqlite":
        # Foreign keys are off while migrating (see engine.py); make sure the result still honours them.
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"migration left rows violating foreign keys: {broken[:10]}")


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    # Migrations only need the column's database type; keeping them free of our Python types means an
    # old migration never breaks when the type's code changes.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _log_step(*, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
    log.info("migration applied", revision=step.up_revision_id, direction="up" if step.is_upgrade else "down")

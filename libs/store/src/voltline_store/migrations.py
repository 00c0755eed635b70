"""Schema migrations, applied by each service at start-up so a deploy needs no separate step."""

from __future__ import annotations

import asyncio
import weakref
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from voltline_store.alembic_env import URL_ENV
from voltline_store.engine import _create_engine, normalize_url

log = structlog.get_logger(__name__)

__all__ = ["URL_ENV", "alembic_config", "run_migrations"]

# Alembic keeps the running migration's context in module globals, so two migrations in one process
# must not interleave (while one waits for the database's migration lock, say). Locks are per loop.
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def alembic_config(url: str, script_location: str | Path) -> Config:
    """An Alembic config built in code, so services need no alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    rendered = normalize_url(url).render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))  # ConfigParser interpolates %
    config.attributes["url"] = rendered
    return config


async def run_migrations(url: str, script_location: str | Path) -> None:
    """`alembic upgrade head`, in one transaction; safe to run from every replica at once."""
    config = alembic_config(url, script_location)
    lock = _locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    engine = _create_engine(url, migrating=True)
    try:
        async with lock, engine.begin() as conn:
            await conn.run_sync(_upgrade, config)
    finally:
        await engine.dispose()
    log.info("database schema at head", script_location=str(script_location))


def _upgrade(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "head")

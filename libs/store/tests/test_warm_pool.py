"""A service opens its PostgreSQL pool before its consumers join (voltline_store.warm_pool)."""

from __future__ import annotations

import pytest
from voltline_store import create_engine, warm_pool


@pytest.mark.parametrize("pool_size", [1, 3])
async def test_the_pool_is_opened_before_use(pg_url: str, pool_size: int) -> None:
    engine = create_engine(pg_url, pool_size=pool_size)
    try:
        assert await warm_pool(engine) == pool_size
        assert engine.pool.checkedin() == pool_size  # type: ignore[attr-defined]  # QueuePool's
    finally:
        await engine.dispose()


async def test_no_pool_to_open_on_sqlite(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        assert await warm_pool(engine) == 0
    finally:
        await engine.dispose()

"""A service opens its PostgreSQL pool before its consumers join (voltline_store.warm_pool)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from voltline_store import create_engine, warm_pool
from voltline_store import engine as engine_module


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


async def test_a_warmed_connection_is_not_pinged_at_its_first_use_but_after_idling_again(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool is opened a few seconds before the first batch (the group's join): pinging every connection then
    would cost three round trips each; after they have been used, an idle one is pinged as any (a server restart)."""
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 0.05)
    engine = create_engine(pg_url, pool_size=2)
    pings: list[object] = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: (pings.append(c), ping(c))[1])

    async def use_all() -> None:
        async def one() -> None:
            async with engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
                await asyncio.sleep(0.01)  # both checked out at once

        await asyncio.gather(one(), one())

    try:
        await warm_pool(engine)
        await asyncio.sleep(0.2)
        await use_all()
        assert pings == []
        await asyncio.sleep(0.2)
        await use_all()
        assert len(pings) == 2
    finally:
        await engine.dispose()


ARRAYS = {"uuid[]": 2951, "varchar[]": 1015, "timestamptz[]": 1185, "int4[]": 1007, "int8[]": 1016}


async def test_a_new_connection_knows_the_batch_statements_array_types(pg_url: str) -> None:
    """asyncpg asks the server about a type it has no codec for (three round trips and their prepares) the first
    time a statement on that connection binds it: the batch reads and writes' arrays are learnt when the connection
    opens, in one question, so a drain's first batches do not each ask."""
    engine = create_engine(pg_url)
    try:
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            settings = raw._protocol.get_settings()
            assert {name for name, oid in ARRAYS.items() if settings.get_data_codec(oid) is None} == set()
    finally:
        await engine.dispose()
    plain = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:  # the premise: asyncpg itself does not know them
        settings = plain._protocol.get_settings()
        assert {name for name, oid in ARRAYS.items() if settings.get_data_codec(oid) is None} == set(ARRAYS)
    finally:
        await plain.close()

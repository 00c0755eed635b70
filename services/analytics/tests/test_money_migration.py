"""Migration 0004 turns stored decimal text into integer micro-units without changing a figure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from voltline_analytics.bootstrap import MIGRATIONS
from voltline_analytics.domain.measures import COUNTERS
from voltline_store import create_engine
from voltline_store.migrations import alembic_config

HOUR = datetime(2026, 11, 2, 8, tzinfo=UTC)
MONEY = {"revenue_excl_vat": "7.00", "revenue_incl_vat": "8.33", "refunds_excl_vat": "0", "refunds_incl_vat": "-4.76"}


async def _upgrade(url: str, target: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:

            def run(sync: sa.Connection) -> None:
                config = alembic_config(url, MIGRATIONS)
                config.attributes["connection"] = sync
                command.upgrade(config, target)

            await conn.run_sync(run)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_stored_money_becomes_micro_units(dialect: str, request: Any) -> None:
    url = request.getfixturevalue("sqlite_url" if dialect == "sqlite" else "pg_url")
    await _upgrade(url, "0003")
    counters = ", ".join(["0"] * len(COUNTERS))
    names = ", ".join(MONEY)
    texts = ", ".join(f"'{v}'" for v in MONEY.values())
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            measures = ", ".join(COUNTERS)
            await conn.execute(
                sa.text(
                    f"INSERT INTO buckets (scope, scope_id, granularity, bucket_start, currency, {measures}, {names},"
                    f" peak_power_w, unique_drivers) VALUES ('network', '', 'day', :at, 'EUR', {counters}, {texts},"
                    " 0, 0)"
                ),
                {"at": HOUR},
            )
        await _upgrade(url, "head")
        async with engine.connect() as conn:
            row = (await conn.execute(sa.text(f"SELECT {names} FROM buckets"))).one()
    finally:
        await engine.dispose()
    assert tuple(row) == (7_000_000, 8_330_000, 0, -4_760_000)

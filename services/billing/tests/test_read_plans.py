"""A batch's reads of sessions by id are planned for their ids, not once for the empty tables of a new store."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from voltline_billing.adapters.cost_repository import session_costs
from voltline_billing.adapters.orm import billing_sessions
from voltline_billing.adapters.tariff_repository import prefetch_session_rows
from voltline_billing.bootstrap import MIGRATIONS
from voltline_store import create_engine, run_migrations, session_factory


async def test_a_batchs_session_reads_are_planned_for_their_ids_not_once_for_an_empty_store(pg_url: str) -> None:
    """After five reads on a new (empty) store the statement used to keep the generic plan made for empty
    tables, a sequential scan of every session ever billed against the batch's whole array, until an ANALYZE.
    Each read now gets a plan for its ids, and the connection's other statements keep their cached plans."""
    await run_migrations(pg_url, MIGRATIONS)
    engine = create_engine(pg_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            for n in range(8):
                for table in (billing_sessions, session_costs):
                    batch = SimpleNamespace(
                        memo={}, envelopes=[SimpleNamespace(session_id=f"S-{n}-{i}") for i in range(3)]
                    )
                    rows: dict[str, Any] = {}
                    await prefetch_session_rows(session, batch, "plans", table, rows, f"S-{n}-0")
                    assert rows == dict.fromkeys([f"S-{n}-{i}" for i in range(3)])
            plans = {
                text: (generic, custom)
                for text, generic, custom in (
                    await session.execute(
                        sa.text("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
                    )
                ).all()
            }
            for table in ("billing_sessions", "session_costs"):
                [found] = [v for k, v in plans.items() if f"FROM {table}" in k and "ANY" in k]
                assert found == (0, 8), table
            assert (await session.execute(sa.text("SHOW plan_cache_mode"))).scalar() == "auto"
    finally:
        await engine.dispose()

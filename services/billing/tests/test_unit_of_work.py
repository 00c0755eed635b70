"""The SQL unit of work keeps SQLAlchemy to itself: a unique key taken meanwhile leaves it as ports.Duplicate."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from voltline_billing.adapters.unit_of_work import SqlBillingUnitOfWork
from voltline_billing.bootstrap import MIGRATIONS
from voltline_billing.domain.tariffs import simple_tariff
from voltline_billing.service_layer.ports import Duplicate
from voltline_store import create_engine, run_migrations, session_factory

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


async def test_a_duplicate_key_leaves_the_unit_of_work_as_duplicate_and_writes_nothing(sqlite_url: str) -> None:
    await run_migrations(sqlite_url, MIGRATIONS)
    engine = create_engine(sqlite_url)
    sessions = session_factory(engine)
    tariff = simple_tariff("STD", "EUR", Decimal("0.35")).model_copy(update={"version": 1})
    try:
        async with SqlBillingUnitOfWork(sessions) as uow:
            await uow.tariffs.add(tariff, NOW)
            await uow.commit()
        with pytest.raises(Duplicate):
            async with SqlBillingUnitOfWork(sessions) as uow:
                await uow.tariffs.add(tariff.model_copy(update={"currency": "USD"}), NOW)
                await uow.commit()
        async with SqlBillingUnitOfWork(sessions) as uow:
            kept = await uow.tariffs.get("STD")
        assert kept is not None and kept.currency == "EUR"
    finally:
        await engine.dispose()

"""An open session's charging state comes from the newest observation of its bay (`states.newest`), one
row instead of every observation since its start: it must be what `current_state` picks from `between`,
on SQLite and PostgreSQL, outside a batch and inside one (prefetched, with the batch's own additions)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from voltline_session.adapters.unit_of_work import SqlSessionUnitOfWork
from voltline_session.domain.periods import START_LOOKBACK, current_state
from voltline_store import TransactionBatch, create_engine, run_migrations, session_factory

MIGRATIONS = Path(__file__).resolve().parents[1] / "src" / "voltline_session" / "migrations"
T0 = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
STATES = ["charging", "idle", "suspended_ev", "unplugged"]


def _observations(rnd: random.Random, n: int) -> list[tuple[int, datetime, str, str]]:
    """(bay, at, source, state): few instants, so equal instants of both sources (and resends) occur."""
    return [
        (
            rnd.randint(1, 2),
            T0 + timedelta(seconds=30 * rnd.randint(0, 8)),
            rnd.choice(["status", "tx"]),
            rnd.choice(STATES),
        )
        for _ in range(n)
    ]


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
async def test_newest_is_what_current_state_picks_from_every_observation(
    store: str, request: pytest.FixtureRequest
) -> None:
    url: str = request.getfixturevalue("sqlite_url" if store == "sqlite" else "pg_url")
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    factory = session_factory(engine)
    rnd = random.Random(12)
    try:
        for round_ in range(6):
            station = f"CP-{round_}"
            stored, batched = _observations(rnd, 8), _observations(rnd, 6)
            async with SqlSessionUnitOfWork(factory) as uow:
                for bay, at, source, state in stored:
                    await uow.states.add(station, bay, at, source, state, state)
                await uow.commit()
            started = T0 + timedelta(seconds=30 * rnd.randint(0, 8))
            since = started - START_LOOKBACK + timedelta(seconds=rnd.choice([0, 60, 150]))
            async with SqlSessionUnitOfWork(factory) as uow:  # outside a batch
                for bay in (1, 2):
                    expected = await uow.states.between(station, bay, since, None)
                    found = await uow.states.newest(station, bay, since)
                    assert (found.state if found else None) == (
                        current_state(expected, since + START_LOOKBACK) if expected else None
                    )
            envelopes: list[object] = []
            async with TransactionBatch(factory)(envelopes):  # type: ignore[arg-type]
                async with SqlSessionUnitOfWork(factory) as uow:
                    await uow.states.prefetch_newest([(station, 1)])  # bay 2 asked later, one row at a time
                    for bay, at, source, state in batched:
                        await uow.states.add(station, bay, at, source, state, state)
                    answers = {bay: await uow.states.newest(station, bay, since) for bay in (1, 2)}
                    await uow.commit()
            async with SqlSessionUnitOfWork(factory) as uow:
                for bay in (1, 2):
                    expected = await uow.states.between(station, bay, since, None)
                    found = answers[bay]
                    assert (found.state if found else None) == (
                        current_state(expected, since + START_LOOKBACK) if expected else None
                    ), (station, bay)
    finally:
        await engine.dispose()

"""A diagnostics service running in-process per test module, over the run's real Kafka and PostgreSQL."""

from __future__ import annotations

import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

sys.path.insert(0, str(Path(__file__).parent))  # so the tests can import diagnostics_testing, status_store

from diagnostics_testing import Receiver, RunningDiagnostics, run_service
from status_store import Store, open_store


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    """A fresh database on each store."""
    return sqlite_url if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))


@pytest_asyncio.fixture
async def store(url: str) -> AsyncIterator[Store]:
    """A migrated diagnostics store and the consumer's handlers and batch scope over it, on each store."""
    async with open_store(url) as opened:
        yield opened


@pytest_asyncio.fixture
async def pg_store(pg_url: str) -> AsyncIterator[Store]:
    """`store` on PostgreSQL only (the driver's own statements of the status batch)."""
    async with open_store(pg_url) as opened:
        yield opened


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(kafka: Any, postgres: Any) -> AsyncIterator[RunningDiagnostics]:
    database = str(postgres.create_database(f"diagnostics_{secrets.token_hex(4)}"))
    async for running in run_service(
        kafka,
        database,
        heartbeat_interval_s=1,
        # Never polled within a test: a delivery is sent because its commit woke the worker or its retry is due.
        webhook_poll_s=120,
        unresponsive_factor=1.0,
        unresponsive_min_s=1.5,
        alert_rules={
            "station_offline": {"after_s": 1},
            "session_stuck": {"after_s": 1},
            "authorized_not_started": {"after_s": 1},
        },
    ):
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    server = await Receiver(fail_first=1).start()
    yield server
    await server.stop()

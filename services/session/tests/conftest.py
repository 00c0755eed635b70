"""A session service running in-process per test module, over the run's real Kafka and PostgreSQL."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from test_session_support import RunningSession, new_database, run_service

sys.path.insert(0, str(Path(__file__).parent))  # so test modules can import session_store_fakes


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(kafka: Any, postgres: Any) -> AsyncIterator[RunningSession]:
    async for running in run_service(
        kafka,
        new_database(postgres),
        session_suspect_after_s=3,
        session_suspect_check_interval_s=0.5,
        session_end_grace_s=2,
    ):
        yield running

"""Fixtures of the auth tests: one running auth service (and fake gateway) per test module."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

sys.path.insert(0, str(Path(__file__).parent))  # so test modules can import auth_testing

from auth_testing import Running, running_auth


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def auth(kafka: Any, postgres: Any) -> AsyncIterator[Running]:
    """Shared by a module's tests: consumer-group joins cost seconds."""
    async with running_auth(kafka, postgres) as running:
        yield running

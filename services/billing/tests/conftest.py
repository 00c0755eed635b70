"""Fixtures of the billing tests: one running billing service per test module (group joins cost seconds)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

sys.path.insert(0, str(Path(__file__).parent))  # so test modules can import billing_testing

from billing_testing import RunningBilling, running_billing


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def billing(kafka: Any, postgres: Any) -> AsyncIterator[RunningBilling]:
    async with running_billing(kafka, postgres) as running:
        yield running

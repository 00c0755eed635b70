"""Fixtures of the end-to-end tests: one running system per test module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from e2e_support import RunningSystem, start_system


@pytest.fixture(scope="module")
def system(kafka: Any, postgres: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    yield from start_system(kafka, postgres, tmp_path_factory.mktemp("system"))

"""Console tests import their helpers from this folder."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from console_fakes import ADMIN, FakeApi, FakeKeys
from pydantic import SecretStr
from voltline_console.bootstrap import build
from voltline_console.settings import ConsoleSettings


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
async def browser(api: FakeApi) -> AsyncIterator[httpx.AsyncClient]:
    """The console app over ASGI with fake keys and services: a client that keeps cookies like a browser."""
    app = build(ConsoleSettings(admin_token=SecretStr(ADMIN), log_json=False), keys=FakeKeys(), api=api)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as client:
        yield client

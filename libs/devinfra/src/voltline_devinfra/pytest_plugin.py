"""pytest fixtures for real infrastructure (loaded from the root pyproject via ``-p``).

Servers are session-scoped and start lazily, the first time a test requests them, so a
run that needs neither Kafka nor PostgreSQL pays nothing. Isolation between tests comes
from cheap per-test namespaces instead of per-test servers: a topic prefix, a database.

Environment:
    VOLTLINE_TEST_KAFKA_BOOTSTRAP  use this broker instead of starting one (pause/resume skip)
    VOLTLINE_TEST_POSTGRES_DSN     use this server (base URL) instead of starting one
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from voltline_devinfra.kafka import KafkaServer
    from voltline_devinfra.postgres import ExternalPostgres, PostgresServer

KAFKA_ENV = "VOLTLINE_TEST_KAFKA_BOOTSTRAP"
POSTGRES_ENV = "VOLTLINE_TEST_POSTGRES_DSN"


class ExternalKafka:
    """A broker we did not start: same ``bootstrap_servers``, but it cannot be paused."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers

    @property
    def host(self) -> str:
        """The first bootstrap server's host, as `KafkaServer.host` (tests probe it directly)."""
        return self.bootstrap_servers.split(",")[0].strip().rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.bootstrap_servers.split(",")[0].strip().rsplit(":", 1)[1])

    def pause(self, *, graceful: bool = True) -> None:
        """Skip the calling test: an outage cannot be simulated on someone else's broker."""
        pytest.skip(f"kafka.pause() needs a broker started by the tests ({KAFKA_ENV} is set)")

    def resume(self) -> None:
        """Skip the calling test (see :meth:`pause`)."""
        pytest.skip(f"kafka.resume() needs a broker started by the tests ({KAFKA_ENV} is set)")


_session_kafka: KafkaServer | None = None
_previous_sigterm: signal.Handlers | None = None


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _stop_servers_on_sigterm() -> None:
    """Turn SIGTERM (CI timeout, `kill`) into KeyboardInterrupt so pytest tears fixtures down.

    Without this the default SIGTERM action ends Python at once, skipping finalizers and
    leaving temp dirs behind (the children themselves die via their parent-death signal).
    """
    global _previous_sigterm
    if _previous_sigterm is not None or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
        _previous_sigterm = signal.SIG_DFL


def pytest_unconfigure(config: pytest.Config) -> None:
    """Restore SIGTERM handling once the session is over."""
    global _previous_sigterm
    if _previous_sigterm is not None:
        with contextlib.suppress(ValueError):
            signal.signal(signal.SIGTERM, _previous_sigterm)
        _previous_sigterm = None


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaServer | ExternalKafka]:
    """A Kafka 3.9 broker for the whole run (``.bootstrap_servers``, ``.pause()``, ``.resume()``)."""
    global _session_kafka
    external = os.environ.get(KAFKA_ENV)
    if external:
        yield ExternalKafka(external)
        return
    from voltline_devinfra.kafka import KafkaServer

    server = KafkaServer()
    _stop_servers_on_sigterm()
    try:
        server.start()
        _session_kafka = server
        yield server
    finally:
        _session_kafka = None
        server.stop()


@pytest.fixture(autouse=True)
def _resume_paused_kafka() -> Iterator[None]:
    """A test that failed between pause() and resume() must not take the broker down for the rest."""
    yield
    server = _session_kafka
    if server is not None and not server.is_running:
        server.resume()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer | ExternalPostgres]:
    """A PostgreSQL server for the whole run; per-test databases come from ``pg_url``."""
    from voltline_devinfra.postgres import ExternalPostgres, PostgresServer

    external = os.environ.get(POSTGRES_ENV)
    if external:
        yield ExternalPostgres(external)
        return
    server = PostgresServer()
    _stop_servers_on_sigterm()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def topic_prefix() -> str:
    """A unique prefix like ``t-1a2b3c4d.`` so each test's topics and groups are its own."""
    return f"t-{uuid.uuid4().hex[:8]}."


@pytest.fixture
def pg_url(postgres: PostgresServer | ExternalPostgres) -> Iterator[str]:
    """A fresh, empty database for this test: ``postgresql+asyncpg://...`` (dropped afterwards)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = postgres.create_database(name)
    yield url
    with contextlib.suppress(Exception):
        postgres.drop_database(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A file-backed SQLite database for this test: ``sqlite+aiosqlite:///<tmp_path>/test.db``."""
    return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"

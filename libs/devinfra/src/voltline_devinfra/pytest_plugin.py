"""pytest fixtures for real infrastructure (loaded from the root pyproject via ``-p``).

Servers are session-scoped and start lazily, the first time a test requests them, so a
run that needs neither Kafka nor PostgreSQL pays nothing. Isolation between tests comes
from cheap per-test namespaces instead of per-test servers: a topic prefix, a database.

Under pytest-xdist (``make test`` runs ``-n 2``) the controller starts one broker and one server for all
workers (``voltline_devinfra._xdist``); a module that pauses the broker asks for ``private_kafka``
instead, a broker of its own worker.

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
from typing import TYPE_CHECKING, Any

import pytest

from voltline_devinfra import _xdist

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


class SharedKafka(ExternalKafka):
    """The broker every xdist worker shares: pausing it would fail the other workers' tests."""

    def pause(self, *, graceful: bool = True) -> None:
        """Fail loudly: a module that pauses the broker overrides ``kafka`` with ``private_kafka``."""
        pytest.fail("kafka.pause() on the broker the workers share: have the module use the private_kafka fixture")

    def resume(self) -> None:
        """See :meth:`pause`."""
        pytest.fail("kafka.resume() on the broker the workers share: use the private_kafka fixture")


# Brokers this process started and may pause: resumed after a test that failed while one was down.
_pausable: list[KafkaServer] = []
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


def _is_xdist_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses", None))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: start the shared Kafka and PostgreSQL once, tell each worker where they are."""
    _stop_servers_on_sigterm()
    node.workerinput.update(_xdist.shared_addresses(os.environ.get(KAFKA_ENV), os.environ.get(POSTGRES_ENV)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile``: whole files per worker, the slow end-to-end files first."""
    return _xdist.make_scheduler(config, log) if config.getoption("dist") == "loadfile" else None


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the servers shared with xdist workers, restore SIGTERM handling once the session is over."""
    global _previous_sigterm
    if _is_xdist_controller(config):
        _xdist.stop_shared()
    if _previous_sigterm is not None:
        with contextlib.suppress(ValueError):
            signal.signal(signal.SIGTERM, _previous_sigterm)
        _previous_sigterm = None


@pytest.fixture(scope="session")
def _own_kafka() -> Iterator[KafkaServer]:
    """A broker started by this process (lazily), stopped at the end of the run."""
    from voltline_devinfra.kafka import KafkaServer

    server = KafkaServer()
    _stop_servers_on_sigterm()
    try:
        server.start()
        _pausable.append(server)
        yield server
    finally:
        with contextlib.suppress(ValueError):
            _pausable.remove(server)
        server.stop()


@pytest.fixture(scope="session")
def kafka(request: pytest.FixtureRequest) -> KafkaServer | ExternalKafka:
    """A Kafka 3.9 broker for the whole run (``.bootstrap_servers``, ``.pause()``, ``.resume()``)."""
    external = os.environ.get(KAFKA_ENV)
    if external:
        return ExternalKafka(external)
    shared = _xdist.worker_input(request.config).get(_xdist.KAFKA_KEY)
    if shared:
        return SharedKafka(shared)
    server: KafkaServer = request.getfixturevalue("_own_kafka")
    return server


@pytest.fixture(scope="session")
def private_kafka(request: pytest.FixtureRequest) -> KafkaServer | ExternalKafka:
    """A broker no other process uses, for tests that pause it (a module overrides ``kafka`` with it).

    Outside xdist this is the run's own broker (the one ``kafka`` gives); on an xdist worker it is started
    for that worker, the first time a module asks for it.
    """
    external = os.environ.get(KAFKA_ENV)
    if external:
        return ExternalKafka(external)
    server: KafkaServer = request.getfixturevalue("_own_kafka")
    return server


@pytest.fixture(autouse=True)
def _resume_paused_kafka() -> Iterator[None]:
    """A test that failed between pause() and resume() must not take the broker down for the rest."""
    yield
    for server in list(_pausable):
        if not server.is_running:
            server.resume()


@pytest.fixture(scope="session")
def postgres(request: pytest.FixtureRequest) -> Iterator[PostgresServer | ExternalPostgres]:
    """A PostgreSQL server for the whole run; per-test databases come from ``pg_url``."""
    from voltline_devinfra.postgres import ExternalPostgres, PostgresServer

    external = os.environ.get(POSTGRES_ENV) or _xdist.worker_input(request.config).get(_xdist.POSTGRES_KEY)
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

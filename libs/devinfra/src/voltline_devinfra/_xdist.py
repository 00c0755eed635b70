"""Running the suite on pytest-xdist workers over one Kafka and one PostgreSQL (what `make test` does).

The controller starts the two servers once, before the workers, and hands their addresses to every
worker (``workerinput``); each test still gets its own topics and databases. Work is handed out a file
at a time, so a module's shared system starts once, and the end-to-end files (minutes each) go first so
that the many short files even the workers out at the end instead of one of them finishing alone.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

KAFKA_KEY = "voltline_kafka_bootstrap"
POSTGRES_KEY = "voltline_postgres_url"
# Longest first: these files start whole systems (processes, a browser) and run for minutes.
SLOW_FIRST = ("tests-e2e/",)

_servers: list[Any] = []
_addresses: dict[str, str] | None = None


def worker_input(config: pytest.Config) -> dict[str, Any]:
    """What the controller handed this worker; empty outside xdist workers."""
    return dict(getattr(config, "workerinput", {}))


def shared_addresses(kafka_external: str | None, postgres_external: str | None) -> dict[str, str]:
    """Start (once) the servers the workers share; the ones given from outside are not started.

    From the main thread, one after the other: a child's parent-death signal is tied to the thread that
    forked it, so servers started from a worker thread could outlive a killed run.
    """
    global _addresses
    if _addresses is not None:
        return _addresses
    from voltline_devinfra.kafka import KafkaServer
    from voltline_devinfra.postgres import PostgresServer

    addresses: dict[str, str] = {}
    if not kafka_external:
        _servers.append(KafkaServer().start())
    if not postgres_external:
        _servers.append(PostgresServer().start())
    for server in _servers:
        if hasattr(server, "bootstrap_servers"):
            addresses[KAFKA_KEY] = server.bootstrap_servers
        else:
            addresses[POSTGRES_KEY] = server.admin_dsn()
    _addresses = addresses
    return addresses


def stop_shared() -> None:
    """Stop the servers :func:`shared_addresses` started (controller, at the end of the run)."""
    global _addresses
    while _servers:
        with contextlib.suppress(Exception):
            _servers.pop().stop()
    _addresses = None


def make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile` with the slow files first (see the module docstring)."""
    from xdist.scheduler import LoadFileScheduling

    class SlowFirstScheduling(LoadFileScheduling):  # type: ignore[misc]
        _ordered = False

        def _assign_work_unit(self, node: Any) -> None:
            if not self._ordered:  # the first call comes right after the work queue is built
                self._ordered = True
                slow = [scope for scope in self.workqueue if scope.startswith(SLOW_FIRST)]
                for scope in reversed(slow):
                    self.workqueue.move_to_end(scope, last=False)
            super()._assign_work_unit(node)

    return SlowFirstScheduling(config, log)

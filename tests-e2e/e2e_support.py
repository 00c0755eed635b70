"""Starting the whole system as separate processes over the test run's real Kafka and PostgreSQL.

Each module gets its own stack, its own topic prefix and its own databases, so modules never see
each other's data.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voltline_devinfra._proc import free_port
from voltline_devinfra.stack import SERVICES, Stack


@dataclass
class RunningSystem:
    stack: Stack
    admin_token: str
    ocpp_url: str
    kafka_bootstrap: str
    topic_prefix: str

    def url(self, service: str) -> str:
        return self.stack.services[service].url

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}


def start_system(
    kafka: Any,
    postgres: Any,
    tmp: Path,
    extra_env: dict[str, dict[str, str]] | None = None,
    names: tuple[str, ...] = SERVICES,
) -> Iterator[RunningSystem]:
    """The services `names` (all by default) as processes, each with its own database."""
    prefix = f"e2e-{secrets.token_hex(4)}."
    token = secrets.token_urlsafe(24)
    ports: dict[str, int] = {}
    for name in names:
        ports[name] = free_port(exclude=frozenset(ports.values()))
    ocpp_port = free_port(exclude=frozenset(ports.values()))
    databases = {
        name: postgres.create_database(f"{prefix.replace('.', '').replace('-', '_')}_{name}")
        for name in names
        if name not in ("gateway", "console")  # neither has a database
    }
    stack = Stack(
        common_env={
            "VOLTLINE_KAFKA_BOOTSTRAP": kafka.bootstrap_servers,
            "VOLTLINE_TOPIC_PREFIX": prefix,
            "VOLTLINE_ADMIN_TOKEN": token,
            "VOLTLINE_OCPP_PORT": str(ocpp_port),
            "VOLTLINE_LOG_LEVEL": "INFO",
        },
        ports=ports,
        database_urls=databases,
        log_dir=tmp / "logs",
        names=names,
        extra_env=extra_env or {},
    )
    try:
        stack.start(timeout=180)  # a safety net: under xdist two systems may start at once on two cores
        yield RunningSystem(stack, token, f"ws://127.0.0.1:{ocpp_port}/ocpp", kafka.bootstrap_servers, prefix)
    finally:
        stack.stop(together=True)  # the services' shutdowns overlap: a module's teardown waits for the slowest only


async def next_command(
    received: asyncio.Queue[tuple[str, dict[str, Any]]], *actions: str, within: float = 30.0
) -> tuple[str, dict[str, Any]]:
    """The next call the CSMS made of a station simulator that is one of `actions`, from the queue its reader
    fills (each call already answered). Any other is passed over: billing's cost messages (CostUpdated, California
    Pricing DataTransfer) and tariffs reach a station at their own moments, between the commands a test waits for."""
    async with asyncio.timeout(within):
        while True:
            action, payload = await received.get()
            if action in actions:
                return action, payload

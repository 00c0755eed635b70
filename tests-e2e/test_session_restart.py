"""Killing the session service (SIGKILL) mid-session and starting it again loses and doubles nothing.

The session service runs as its own process over the run's real Kafka and PostgreSQL; the station's
events (what the gateway publishes) keep coming while it is dead, and some arrive twice.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_session_support import SessionEvents, StationSim, ended, energy, eventually, types
from voltline_bus import BusConfig, Producer
from voltline_devinfra._proc import free_port
from voltline_devinfra.stack import Stack
from voltline_events import Topics

READINGS = 40  # one a minute, 500 Wh each, after the begin value
BEGIN_WH = 1_234_000


@pytest.fixture(scope="module")
def session_process(kafka: Any, postgres: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str]]:
    prefix = f"e2e-{secrets.token_hex(4)}."
    token = secrets.token_urlsafe(24)
    stack = Stack(
        common_env={
            "VOLTLINE_KAFKA_BOOTSTRAP": kafka.bootstrap_servers,
            "VOLTLINE_TOPIC_PREFIX": prefix,
            "VOLTLINE_ADMIN_TOKEN": token,
            "VOLTLINE_LOG_LEVEL": "INFO",
            "VOLTLINE_SESSION_UPDATE_INTERVAL_S": "0",
        },
        ports={"session": free_port()},
        database_urls={"session": postgres.create_database(f"{prefix.replace('.', '').replace('-', '_')}_session")},
        log_dir=Path(tmp_path_factory.mktemp("session-restart")) / "logs",
        names=("session",),
    )
    try:
        stack.start(timeout=180)  # a safety net: under xdist two systems may start at once on two cores
        yield stack, token
    finally:
        stack.stop()


async def test_sigkill_mid_session_loses_and_doubles_nothing(session_process: tuple[Stack, str], kafka: Any) -> None:
    stack, token = session_process
    headers = {"Authorization": f"Bearer {token}"}
    topics = Topics(stack.common_env["VOLTLINE_TOPIC_PREFIX"])
    producer = Producer(BusConfig(bootstrap=kafka.bootstrap_servers, client_id="restart-test"))
    await producer.start()
    events = SessionEvents(kafka.bootstrap_servers, topics)
    await events.start()
    cp = StationSim(producer, topics, "CP-RESTART", "ocpp2.0.1")
    sent = []

    async def update(n: int) -> None:
        sent.append(await cp.tx("updated", "rst-1", n, seq_no=n, meter_values=[energy(n, BEGIN_WH + 500 * n)]))

    try:
        async with httpx.AsyncClient(base_url=stack.services["session"].url, headers=headers, timeout=10) as api:
            await cp.connect()
            begin = [energy(0, BEGIN_WH, "Transaction.Begin")]
            await cp.tx("started", "rst-1", 0, seq_no=0, evse_id=1, id_tag="CARD-R", meter_values=begin)
            for n in range(1, 11):
                await update(n)
            await _wait(api, lambda s: s["energy_wh"] == 5_000)

            for n in range(11, 16):  # these may or may not be handled before the kill
                await update(n)
            stack.services["session"].proc.kill()  # type: ignore[union-attr]
            for n in range(16, 31):  # the service is dead
                await update(n)
            await asyncio.to_thread(stack.restart, "session", 90)
            for envelope in sent[-3:]:  # redelivered, as Kafka may
                await cp.publish(envelope)
            for n in range(31, READINGS + 1):
                await update(n)
            end = [energy(READINGS + 1, BEGIN_WH + 500 * READINGS, "Transaction.End")]
            await cp.tx("ended", "rst-1", READINGS + 1, seq_no=READINGS + 1, stop_reason="Local", meter_values=end)

            session = await _wait(api, lambda s: s["status"] == "completed")
            assert session["energy_wh"] == 500 * READINGS == 20_000
            timeline = (await api.get(f"/api/v1/sessions/{session['session_id']}/meter-values")).json()["items"]
            assert len(timeline) == READINGS + 2 and all(item["note"] is None for item in timeline)
            published = await events.wait(session["session_id"], lambda e: bool(ended(e)))
            assert types(published).count("session.started") == 1
            assert [e["energy_wh"] for e in ended(published)] == [20_000]
            assert stack.dead() == []
    finally:
        await events.stop()
        await producer.stop()


async def _wait(api: httpx.AsyncClient, ready: Any) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        try:
            response = await api.get("/api/v1/sessions", params={"station_id": "CP-RESTART"})
        except httpx.TransportError:
            return None
        items = response.json()["items"] if response.status_code == 200 else []
        assert len(items) <= 1, items
        return items[0] if items and ready(items[0]) else None

    return await eventually(check, within=120, what="the session of CP-RESTART")

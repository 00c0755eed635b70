"""Billing as its own process over real Kafka and PostgreSQL: the session service's events in, the exact
CDR and exactly one card capture out, also across duplicates and a restart of the service.

The session events are published here the way the session service publishes them (that is the
contract billing consumes), so this runs whatever state the session service is in.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from voltline_bus import BusConfig, Producer
from voltline_devinfra._proc import free_port
from voltline_devinfra.stack import Stack
from voltline_devinfra.waiting import eventually
from voltline_events import Envelope, Topics, envelope_for, station_key
from voltline_events.payloads import SessionEnded, SessionStarted

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


class Billing:
    def __init__(self, stack: Stack, token: str, prefix: str, bootstrap: str) -> None:
        self.stack, self.prefix, self.bootstrap = stack, prefix, bootstrap
        self.headers = {"Authorization": f"Bearer {token}"}
        self.url = f"{stack.services['billing'].url}/api/v1"

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = httpx.request(method, f"{self.url}{path}", json=body, params=params, headers=self.headers)
        assert response.is_success, response.text
        return response.json()

    async def publish(self, *envelopes: Envelope) -> None:
        producer = Producer(BusConfig(bootstrap=self.bootstrap, client_id="e2e-billing"))
        await producer.start()
        try:
            for envelope in envelopes:
                assert envelope.station_id is not None
                await producer.publish(Topics(self.prefix).sessions, envelope, key=station_key(envelope.station_id))
        finally:
            await producer.stop()

    async def until(self, path: str, ok: Any, **params: Any) -> Any:
        return await eventually(lambda: self.call("GET", path, **params), 30, ok=ok, what=f"GET {path} to satisfy it")


@pytest.fixture(scope="module")
def billing(kafka: Any, postgres: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Billing]:
    prefix, token = f"e2e-{secrets.token_hex(4)}.", secrets.token_urlsafe(24)
    stack = Stack(
        common_env={
            "VOLTLINE_KAFKA_BOOTSTRAP": kafka.bootstrap_servers,
            "VOLTLINE_TOPIC_PREFIX": prefix,
            "VOLTLINE_ADMIN_TOKEN": token,
            "VOLTLINE_PAYMENT_RETRY_INTERVAL_S": "1",
        },
        ports={"billing": free_port()},
        database_urls={"billing": postgres.create_database(f"e2e_billing_{secrets.token_hex(4)}")},
        log_dir=tmp_path_factory.mktemp("billing") / "logs",
        cwd=Path(__file__).resolve().parents[1],
        names=("billing",),
    )
    try:
        stack.start(timeout=180)  # a safety net: under xdist two systems may start at once on two cores
        yield Billing(stack, token, prefix, kafka.bootstrap_servers)
    finally:
        stack.stop()


def session_events(session_id: str, driver_id: str) -> tuple[Envelope, Envelope]:
    start = SessionStarted(session_id=session_id, station_id="CP-E2E", started_at=T0, driver_id=driver_id,
                           id_token="RFID-1", evse_id=1, connector_id=1)  # fmt: skip
    end = SessionEnded(session_id=session_id, station_id="CP-E2E", started_at=T0, ended_at=T0 + timedelta(minutes=75),
                       energy_wh=22_500, driver_id=driver_id, id_token="RFID-1")  # fmt: skip
    return (
        envelope_for(start, source="session/e2e", station_id="CP-E2E", session_id=session_id),
        envelope_for(end, source="session/e2e", station_id="CP-E2E", session_id=session_id),
    )


async def test_card_session_is_priced_exactly_and_captured_once(billing: Billing) -> None:
    billing.call("POST", "/tariffs", {"tariff_id": "STD", "currency": "EUR", "energy_price_per_kwh": "0.35",
                                      "time_price_per_hour": "1.20", "session_fee": "1.00", "vat_percent": "19",
                                      "default": True})  # fmt: skip
    billing.call("POST", "/drivers/D-E2E/payment-methods", {"type": "card", "token": "tok_visa"})
    start, end = session_events("S-E2E", "D-E2E")
    await billing.publish(start, end, end)

    cdrs = await billing.until("/cdrs", lambda b: b["items"] and b["items"][0]["payment_state"] == "paid",
                               session_id="S-E2E")  # fmt: skip
    [cdr] = cdrs["items"]
    assert (cdr["energy_kwh"], cdr["duration_s"], cdr["total_excl_vat"], cdr["total_vat"], cdr["total_incl_vat"]) == (
        "22.500",
        4500,
        "10.38",
        "1.97",
        "12.35",
    )
    ops = billing.call("GET", "/sandbox/operations")["items"]
    assert [(o["kind"], o["amount"]) for o in ops if o["key"].startswith("S-E2E:")] == [
        ("authorize", "50.00"),
        ("capture", "12.35"),
    ]

    billing.stack.restart("billing")
    _, again = session_events("S-E2E", "D-E2E")  # published anew after the restart
    await billing.publish(again)
    marker_start, marker_end = session_events("S-E2E-AFTER", "D-E2E")
    await billing.publish(marker_start, marker_end)
    await billing.until("/cdrs", lambda b: b["items"], session_id="S-E2E-AFTER")
    assert len(billing.call("GET", "/cdrs", session_id="S-E2E")["items"]) == 1
    [payment] = billing.call("GET", "/payments", session_id="S-E2E")["items"]
    assert (payment["state"], payment["captured"]) == ("paid", "12.35")
    assert billing.call("GET", "/ledger/trial-balance")["balanced"] is True

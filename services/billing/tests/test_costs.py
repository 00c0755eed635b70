"""The cost where the driver looks: billing announces running and final costs and sends them to the station
(1.6 California Pricing DataTransfers, 2.0.1 CostUpdated) through the station command path; the final figure is
the CDR's total. A fake gateway answers the commands on the real topic."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from billing_testing import RunningBilling, ended, eventually, running_billing, started, updated
from session_fakes import Responder
from voltline_billing.domain import cost_messages as msg
from voltline_events import Envelope
from voltline_events.payloads import StationCommand, StationCommandResult

pytestmark = pytest.mark.asyncio(loop_scope="module")
START = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
TARIFF = {"tariff_id": "COST-1", "currency": "EUR", "energy_price_per_kwh": "0.30", "session_fee": "1.00",
          "vat_percent": "19", "default": True}  # fmt: skip


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def costs(kafka: Any, postgres: Any) -> AsyncIterator[tuple[RunningBilling, list[tuple[str, StationCommand]]]]:
    sent: list[tuple[str, StationCommand]] = []

    async def station(request: Envelope, command: StationCommand) -> StationCommandResult:
        sent.append((request.station_id or "", command))
        return StationCommandResult(outcome="answered", action=command.action, payload={"status": "Accepted"})

    async with running_billing(kafka, postgres, cost_update_interval_s=0) as billing:
        gateway = Responder(kafka.bootstrap_servers, billing.producer, billing.topics.station_commands, station, "gw")
        await gateway.start()
        try:
            yield billing, sent
        finally:
            await gateway.stop()


def _of(sent: list[tuple[str, StationCommand]], station_id: str) -> list[StationCommand]:
    return [c for s, c in sent if s == station_id]


async def test_a_16_station_gets_user_price_running_and_final_cost(costs: Any) -> None:
    billing, sent = costs
    await billing.post("/tariffs", TARIFF, expect=201)
    await billing.publish(started("S-C16", "CP-C16", START, transaction_id="17", ocpp_version="ocpp1.6",
                                  id_token="TAG-16"))  # fmt: skip
    await billing.publish(updated("S-C16", "CP-C16", START + timedelta(minutes=10), 5_000))
    await billing.publish(ended("S-C16", "CP-C16", START, START + timedelta(minutes=30), 10_000,
                                transaction_id="17", ocpp_version="ocpp1.6"))  # fmt: skip
    cdr = await billing.cdr("S-C16")
    commands = await eventually(lambda: _async(_of(sent, "CP-C16")), ok=lambda c: len(c) >= 3)
    assert {c.payload["vendorId"] for c in commands} == {msg.COSTMSG_VENDOR}
    by_id = {c.payload["messageId"]: json.loads(c.payload["data"]) for c in commands}
    assert by_id["SetUserPrice"] == {
        "idToken": "TAG-16",
        "priceText": "0.36 EUR/kWh + 1.19 EUR per session (incl. 19% VAT)",
    }
    running = by_id["RunningCost"]
    assert running["transactionId"] == 17 and running["meterValue"] == 5_000 and running["state"] == "Charging"
    assert running["cost"] == 2.98 and running["chargingPrice"] == {
        "kWhPrice": 0.357,
        "flatFee": 1.19,
    }  # 1.50+1.00 +19 %
    final = by_id["FinalCost"]
    assert final["transactionId"] == 17 and final["cost"] == float(cdr["total_incl_vat"]) == 4.76
    assert final["priceText"].startswith("TOTAL 4.76 EUR incl. VAT, 10.000 kWh") and final["qrCodeText"] == ""


async def test_a_201_station_gets_cost_updated_with_the_cdr_total(costs: Any) -> None:
    billing, sent = costs
    await billing.publish(started("S-C201", "CP-C201", START, transaction_id="tx-201", ocpp_version="ocpp2.0.1"))
    await billing.publish(updated("S-C201", "CP-C201", START + timedelta(minutes=10), 2_000))
    await billing.publish(ended("S-C201", "CP-C201", START, START + timedelta(minutes=20), 4_000,
                                transaction_id="tx-201", ocpp_version="ocpp2.0.1"))  # fmt: skip
    cdr = await billing.cdr("S-C201")
    commands = await eventually(lambda: _async(_of(sent, "CP-C201")), ok=lambda c: len(c) >= 2)
    assert [c.action for c in commands] == ["CostUpdated", "CostUpdated"]
    assert [c.payload for c in commands] == [
        {"totalCost": 1.90, "transactionId": "tx-201"},  # 2 kWh x 0.30 + 1.00 = 1.60, +19 % = 1.90
        {"totalCost": float(cdr["total_incl_vat"]), "transactionId": "tx-201"},
    ]


async def _async(value: Any) -> Any:
    return value


async def test_a_21_station_gets_the_transaction_tariff_then_costs(costs: Any) -> None:
    billing, sent = costs
    await billing.publish(started("S-C21", "CP-C21", START, transaction_id="tx-21", ocpp_version="ocpp2.1"))
    await billing.publish(updated("S-C21", "CP-C21", START + timedelta(minutes=5), 1_000))
    commands = await eventually(lambda: _async(_of(sent, "CP-C21")), ok=lambda c: len(c) >= 2)
    assert [c.action for c in commands] == ["ChangeTransactionTariff", "CostUpdated"]
    assert commands[0].payload["tariff"]["energy"]["prices"] == [{"priceKwh": 0.3}]

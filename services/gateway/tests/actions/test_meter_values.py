from __future__ import annotations

from typing import Any

from voltline_events.payloads import StationTransaction
from voltline_events.payloads.transactions import StationMeterValues

SAMPLES_16 = [
    {
        "timestamp": "2024-05-01T08:15:00Z",
        "sampledValue": [{"value": "13000", "unit": "Wh", "context": "Sample.Periodic"}],
    },
    {
        "timestamp": "2024-05-01T08:30:00Z",
        "sampledValue": [{"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"}],
    },
]


async def test_1_6_readings_of_a_transaction_update_it(answer: Any, bus: Any) -> None:
    reply = await answer([2, "v", "MeterValues", {"connectorId": 1, "transactionId": 77, "meterValue": SAMPLES_16}])
    assert reply[2] == {}
    event = bus.events[0]
    assert isinstance(event, StationTransaction)
    assert (event.kind, event.transaction_id, event.connector_id) == ("updated", "77", 1)
    assert event.timestamp.isoformat() == "2024-05-01T08:30:00+00:00"  # the newest reading
    energy, power = event.meter_values[0].values[0], event.meter_values[1].values[0]
    assert (energy.value, energy.measurand, energy.unit) == ("13000", "Energy.Active.Import.Register", "Wh")
    assert (power.value, power.measurand, power.unit) == ("7.4", "Power.Active.Import", "kW")


async def test_1_6_readings_without_a_transaction_are_meter_values(answer: Any, bus: Any) -> None:
    await answer([2, "v", "MeterValues", {"connectorId": 0, "meterValue": SAMPLES_16}])
    event = bus.events[0]
    assert isinstance(event, StationMeterValues) and event.connector_id == 0 and len(event.meter_values) == 2


async def test_2x_readings_keep_unit_and_multiplier(answer: Any, bus: Any) -> None:
    sample = {
        "timestamp": "2024-05-01T08:15:00Z",
        "sampledValue": [{"value": 13.5, "unitOfMeasure": {"unit": "kWh", "multiplier": 3}}, {"value": 220}],
    }
    await answer([2, "v", "MeterValues", {"evseId": 1, "meterValue": [sample]}], "ocpp2.0.1")
    event = bus.events[0]
    assert isinstance(event, StationMeterValues) and event.evse_id == 1
    first, second = event.meter_values[0].values
    assert (first.value, first.unit, first.multiplier) == ("13.5", "kWh", 3)
    assert (second.value, second.unit, second.multiplier) == ("220", "Wh", None)

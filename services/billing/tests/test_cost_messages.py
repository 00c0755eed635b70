"""The payloads stations are sent to show prices and costs (pure): 2.x CostUpdated, 1.6 California Pricing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from voltline_billing.domain import cost_messages as msg

AT = datetime(2026, 12, 5, 10, 30, tzinfo=UTC)
PRICES = msg.Prices(Decimal("0.35"), Decimal("1.20"), Decimal("1.00"), Decimal("19"))


def _data(command: tuple[str, dict[str, object]]) -> dict[str, object]:
    action, payload = command
    assert action == "DataTransfer" and payload["vendorId"] == "org.openchargealliance.costmsg"
    return json.loads(str(payload["data"]))  # type: ignore[no-any-return]


def test_2x_stations_get_cost_updated() -> None:
    for version in ("ocpp2.0.1", "ocpp2.1"):
        assert msg.running_cost(version, "TX-9", Decimal("3.57"), 5_000, AT, PRICES) == [
            ("CostUpdated", {"totalCost": 3.57, "transactionId": "TX-9"})
        ]
        assert msg.final_cost(version, "TX-9", Decimal("12.35"), "TOTAL") == [
            ("CostUpdated", {"totalCost": 12.35, "transactionId": "TX-9"})
        ]
    assert msg.user_price("ocpp2.0.1", "TAG", "text") == []


def test_16_california_pricing_payloads() -> None:
    [running] = msg.running_cost("ocpp1.6", "17", Decimal("3.57"), 5_000, AT, PRICES)
    assert running[1]["messageId"] == "RunningCost"
    assert _data(running) == {
        "transactionId": 17,
        "timestamp": "2026-12-05T10:30:00Z",
        "meterValue": 5_000,
        "cost": 3.57,
        "state": "Charging",
        "chargingPrice": {"kWhPrice": 0.417, "hourPrice": 1.428, "flatFee": 1.19},  # incl. 19 % VAT
    }
    [final] = msg.final_cost("ocpp1.6", "17", Decimal("12.35"), "TOTAL 12.35 EUR", "https://r.example/1")
    assert final[1]["messageId"] == "FinalCost"
    assert _data(final) == {"transactionId": 17, "cost": 12.35, "priceText": "TOTAL 12.35 EUR",
                            "qrCodeText": "https://r.example/1"}  # fmt: skip
    [user] = msg.user_price("ocpp1.6", "04A1B2", "0.42 EUR/kWh")
    assert user[1]["messageId"] == "SetUserPrice" and _data(user) == {"idToken": "04A1B2", "priceText": "0.42 EUR/kWh"}


def test_what_cannot_be_addressed_is_not_sent() -> None:
    assert msg.running_cost("ocpp1.6", "not-a-number", Decimal(1), 0, AT, PRICES) == []
    assert msg.final_cost("ocpp2.0.1", None, Decimal(1), "") == []
    assert msg.user_price("ocpp1.6", None, "x") == []


def test_final_text() -> None:
    assert msg.final_text("EUR", Decimal("12.35"), 22_500, 4_500) == "TOTAL 12.35 EUR incl. VAT, 22.500 kWh, 1:15 h"


def test_21_stations_get_the_transaction_tariff_in_21_form() -> None:
    from voltline_billing.domain.tariffs import simple_tariff

    tariff = simple_tariff("STD", "EUR", Decimal("0.35"), time_price_per_hour=Decimal("1.20"), session_fee=Decimal(1),
                           idle_price_per_hour=Decimal(6), vat_percent=Decimal(19))  # fmt: skip
    [(action, payload)] = msg.transaction_tariff("ocpp2.1", "TX-21", tariff, "0.42 EUR/kWh")
    assert action == "ChangeTransactionTariff" and payload["transactionId"] == "TX-21"
    body = payload["tariff"]
    assert (body["tariffId"], body["currency"]) == ("STD-v1", "EUR")
    assert body["energy"] == {"prices": [{"priceKwh": 0.35}], "taxRates": [{"type": "VAT", "tax": 19.0}]}
    assert body["chargingTime"]["prices"] == [{"priceMinute": 0.02}] and body["fixedFee"]["prices"] == [
        {"priceFixed": 1.0}
    ]
    assert body["idleTime"]["prices"] == [{"priceMinute": 0.1}]
    assert msg.transaction_tariff("ocpp2.0.1", "TX", tariff, "x") == []
    _valid("v21", "ChangeTransactionTariffRequest", payload)


def _valid(version: str, schema: str, payload: dict[str, object]) -> None:
    """Against the official OCPP JSON schema, as the gateway validates every frame it sends."""
    import jsonschema
    import ocpp

    path = Path(ocpp.__file__).parent / version / "schemas" / f"{schema}.json"
    jsonschema.validate(payload, json.loads(path.read_text()))


def test_payloads_match_the_official_schemas() -> None:
    for version, schema in (("v201", "CostUpdatedRequest"), ("v21", "CostUpdatedRequest")):
        [(_, payload)] = msg.running_cost("ocpp2.0.1", "TX", Decimal("1.5"), 1, AT, PRICES)
        _valid(version, schema, payload)
    [(_, payload)] = msg.final_cost("ocpp1.6", "17", Decimal("1.5"), "TOTAL")
    _valid("v16", "DataTransfer", payload)

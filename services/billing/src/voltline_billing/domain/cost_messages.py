"""What a station is sent so its display shows the price and the cost (pure: the OCPP payloads).

- 2.0.1 and 2.1: `CostUpdated {totalCost, transactionId}` while charging and with the final total (the CDR is
  written after the station's Ended event was answered, so the total goes in a CostUpdated, not in
  TransactionEventResponse.totalCost).
- 2.1 also: `ChangeTransactionTariff` when the session starts, the tariff in 2.1's own form (simple tariffs).
- 1.6: the Open Charge Alliance's "California Pricing" DataTransfers (vendorId `org.openchargealliance.costmsg`):
  `SetUserPrice {idToken, priceText}` when the session starts, `RunningCost {transactionId, timestamp,
  meterValue, cost, state, chargingPrice}` while charging, `FinalCost {transactionId, cost, priceText,
  qrCodeText}` after the CDR. `data` is a JSON string, as the whitepaper defines; prices include VAT.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from voltline_billing.domain.tariffs import Dimension, PriceComponent, Tariff

COSTMSG_VENDOR = "org.openchargealliance.costmsg"
OCPP16 = "ocpp1.6"
OCPP21 = "ocpp2.1"
Command = tuple[str, dict[str, Any]]  # (OCPP action, payload)


@dataclass(frozen=True)
class Prices:
    """The ad-hoc prices excl. VAT (as billing.tariff_changed carries them) and their VAT."""

    energy_per_kwh: Decimal | None = None
    time_per_hour: Decimal | None = None
    session_fee: Decimal | None = None
    vat_percent: Decimal | None = None

    def gross(self, amount: Decimal) -> float:
        return float(
            (amount * (1 + (self.vat_percent or Decimal(0)) / 100)).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
        )

    def charging_price(self) -> dict[str, float]:
        found = {"kWhPrice": self.energy_per_kwh, "hourPrice": self.time_per_hour, "flatFee": self.session_fee}
        return {key: self.gross(value) for key, value in found.items() if value is not None}


def _data_transfer(message_id: str, data: dict[str, Any]) -> Command:
    body = json.dumps(data, separators=(",", ":"))
    return "DataTransfer", {"vendorId": COSTMSG_VENDOR, "messageId": message_id, "data": body}


def _int_id(transaction_id: str | None) -> int | None:
    """1.6 transaction ids are integers (the gateway's); anything else cannot be addressed."""
    try:
        return int(transaction_id) if transaction_id is not None else None
    except ValueError:
        return None


def user_price(ocpp_version: str | None, id_token: str | None, price_text: str) -> list[Command]:
    if ocpp_version != OCPP16 or not id_token:
        return []  # 2.x shows tariffs through its own messages (not sent yet, see docs/billing.md)
    return [_data_transfer("SetUserPrice", {"idToken": id_token, "priceText": price_text})]


def running_cost(
    ocpp_version: str | None,
    transaction_id: str | None,
    total_incl_vat: Decimal,
    energy_wh: int,
    at: datetime,
    prices: Prices,
    charging: bool = True,
) -> list[Command]:
    if transaction_id is None:
        return []
    if ocpp_version != OCPP16:
        return [("CostUpdated", {"totalCost": float(total_incl_vat), "transactionId": transaction_id})]
    tx = _int_id(transaction_id)
    if tx is None:
        return []
    data = {
        "transactionId": tx,
        "timestamp": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "meterValue": energy_wh,
        "cost": float(total_incl_vat),
        "state": "Charging" if charging else "Idle",
        "chargingPrice": prices.charging_price(),
    }
    return [_data_transfer("RunningCost", data)]


def final_cost(
    ocpp_version: str | None, transaction_id: str | None, total_incl_vat: Decimal, price_text: str, qr_text: str = ""
) -> list[Command]:
    if transaction_id is None:
        return []
    if ocpp_version != OCPP16:
        return [("CostUpdated", {"totalCost": float(total_incl_vat), "transactionId": transaction_id})]
    tx = _int_id(transaction_id)
    if tx is None:
        return []
    data = {"transactionId": tx, "cost": float(total_incl_vat), "priceText": price_text, "qrCodeText": qr_text}
    return [_data_transfer("FinalCost", data)]


def final_text(currency: str, total_incl_vat: Decimal, energy_wh: int, duration_s: int) -> str:
    """'TOTAL 12.35 EUR incl. VAT, 22.500 kWh, 1:15 h' for the station's display at the end."""
    hours, minutes = divmod(duration_s // 60, 60)
    return f"TOTAL {total_incl_vat} {currency} incl. VAT, {Decimal(energy_wh) / 1000:.3f} kWh, {hours}:{minutes:02d} h"


def transaction_tariff(
    ocpp_version: str | None, transaction_id: str | None, tariff: Tariff, text: str
) -> list[Command]:
    """2.1 only: `ChangeTransactionTariff` with the tariff in 2.1's TariffType, so the station can show (and
    compute locally) the price of this transaction. Only tariffs without restrictions map one to one (2.1's
    conditions differ from OCPI's restrictions); others, and stations that answer NotSupported, get the costs only."""
    if ocpp_version != OCPP21 or transaction_id is None or any(e.restrictions for e in tariff.elements):
        return []
    found: dict[Dimension, PriceComponent] = {}
    for element in tariff.elements:
        for component in element.price_components:
            found.setdefault(component.type, component)
    body: dict[str, Any] = {
        "tariffId": f"{tariff.tariff_id}-v{tariff.version}"[:60],
        "currency": tariff.currency,
        "description": [{"format": "UTF8", "language": "en", "content": text[:512]}],
    }
    keys = {
        Dimension.ENERGY: ("energy", "priceKwh", Decimal(1)),
        Dimension.TIME: ("chargingTime", "priceMinute", Decimal(60)),
        Dimension.PARKING_TIME: ("idleTime", "priceMinute", Decimal(60)),
        Dimension.FLAT: ("fixedFee", "priceFixed", Decimal(1)),
    }
    for dimension, (field, price_key, per) in keys.items():
        chosen = found.get(dimension)
        if chosen is None:
            continue
        price = float((Decimal(str(chosen.price)) / per).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP))
        entry: dict[str, Any] = {"prices": [{price_key: price}]}
        if chosen.vat is not None:
            entry["taxRates"] = [{"type": "VAT", "tax": float(Decimal(str(chosen.vat)))}]
        body[field] = entry
    return [("ChangeTransactionTariff", {"transactionId": transaction_id, "tariff": body})]

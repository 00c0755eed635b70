"""Response models of the drivers' receipts (domain.receipts.receipt)."""

from __future__ import annotations

from pydantic import ConfigDict, Field
from voltline_chassis.schemas import DecimalText, ResponseModel, Timestamp


class SellerOut(ResponseModel):
    name: str
    address: str
    vat_id: str


class ReceiptLineOut(ResponseModel):
    description: str
    quantity: DecimalText = Field(description="billed quantity, in `unit`")
    unit: str
    unit_price: DecimalText = Field(description="excl. VAT, per `price_per`")
    price_per: str
    amount: DecimalText = Field(description="excl. VAT")
    vat_percent: DecimalText | None


class ReceiptVatOut(ResponseModel):
    vat_percent: DecimalText
    taxable: DecimalText
    vat: DecimalText


class PaidWithOut(ResponseModel):
    method: str = Field(description="card, wallet, postpaid or none")
    state: str = Field(description="the payment's state: paid, postpaid, failed...")
    label: str | None
    captured: DecimalText | None = Field(description="cards: the amount taken")


class PeriodOut(ResponseModel):
    start: Timestamp
    end: Timestamp


class ReceiptOut(ResponseModel):
    """A CDR's receipt (an invoice): every figure is the CDR's."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "number": "RCT-2026-000001", "issued_at": "2026-12-05T11:00:00Z",
                    "seller": {"name": "voltline charging", "address": "1 Example Street, Berlin",
                               "vat_id": "DE000000000"},
                    "buyer": {"driver_id": "drv_1"}, "cdr_id": "cdr_1", "session_id": "S-1", "station_id": "CP-1",
                    "station_address": "Hauptstr. 1, Berlin", "evse_id": 1, "connector_id": 1,
                    "period": {"start": "2026-12-05T10:00:00Z", "end": "2026-12-05T10:40:00Z"},
                    "energy_kwh": "12.5", "duration_s": 2400, "tariff_id": "STD", "currency": "EUR",
                    "lines": [{"description": "Energy", "quantity": "12.5", "unit": "kWh", "unit_price": "0.35",
                               "price_per": "kWh", "amount": "4.38", "vat_percent": "19"}],
                    "vat": [{"vat_percent": "19", "taxable": "4.38", "vat": "0.83"}],
                    "total_excl_vat": "4.38", "total_vat": "0.83", "total_incl_vat": "5.21",
                    "payment": {"method": "card", "state": "paid", "label": "card ...visa", "captured": "5.21"},
                }
            ]
        }
    )  # fmt: skip

    number: str = Field(description="from the gap-free RCT-<year> series")
    issued_at: Timestamp
    seller: SellerOut
    buyer: dict[str, str | None]
    cdr_id: str
    session_id: str
    station_id: str
    station_address: str | None
    evse_id: int | None
    connector_id: int | None
    period: PeriodOut
    energy_kwh: DecimalText
    duration_s: int
    tariff_id: str | None
    currency: str
    lines: list[ReceiptLineOut]
    vat: list[ReceiptVatOut]
    total_excl_vat: DecimalText
    total_vat: DecimalText
    total_incl_vat: DecimalText
    payment: PaidWithOut


class StationAddressOut(ResponseModel):
    station_id: str
    address: str

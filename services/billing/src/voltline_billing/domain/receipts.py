"""A driver's receipt for one CDR: an invoice with the fields the law asks of one (EU VAT directive art. 226:
seller's name, address and VAT id; a number from one gap-free series; the date; the buyer; what was supplied,
where and when; unit prices; net amount per VAT rate, the rate, the VAT and the gross total; how it was paid).

Pure: built from a CDR as priced, so every figure on it is the CDR's figure (nothing is recomputed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from voltline_billing.domain.cdr import Cdr
from voltline_billing.domain.money import fmt
from voltline_billing.domain.priced import rfc3339

PREFIX = "RCT"


@dataclass(frozen=True, slots=True)
class Seller:
    """The operator that sells the charging (settings: VOLTLINE_SELLER_NAME, _ADDRESS, _VAT_ID)."""

    name: str
    address: str
    vat_id: str


@dataclass(frozen=True, slots=True)
class PaidWith:
    """How the CDR was paid, as the payment records it."""

    method: str  # card | wallet | postpaid | none
    state: str  # the payment's state (paid, postpaid, failed...)
    label: str | None  # a card's label or its token's last four characters
    captured: str | None  # the amount taken, as a decimal string


@dataclass(frozen=True, slots=True)
class IssuedReceipt:
    """The number a CDR's receipt got when it was first issued (kept; never reissued)."""

    cdr_id: str
    number: str
    driver_id: str
    issued_at: datetime
    buyer: dict[str, str | None] | None = None  # the driver's billing details when it was issued


@dataclass(frozen=True, slots=True)
class BillingDetails:
    """Who a driver's receipts are made out to (a business needs its name, address and VAT id on them)."""

    name: str
    address: str | None = None
    vat_id: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"name": self.name, "address": self.address, "vat_id": self.vat_id}


def series(year: int) -> str:
    """One gap-free series of receipt numbers per year: `RCT-2026`."""
    return f"{PREFIX}-{year}"


def receipt_number(year: int, sequence: int) -> str:
    """`RCT-2026-000042`."""
    return f"{PREFIX}-{year}-{sequence:06d}"


def payment_label(method: dict[str, Any] | None) -> str | None:
    if not method:
        return None
    token = method.get("token")
    return method.get("label") or (f"card …{token[-4:]}" if token else None)


def receipt(
    cdr: Cdr, issued: IssuedReceipt, seller: Seller, station_address: str | None, paid: PaidWith
) -> dict[str, Any]:
    """The receipt as the API returns it and the PDF prints it; amounts are decimal strings in the CDR's
    currency, exactly the CDR's."""
    p, cur = cdr.priced, cdr.priced.currency
    return {
        "number": issued.number,
        "issued_at": issued.issued_at,
        "seller": {"name": seller.name, "address": seller.address, "vat_id": seller.vat_id},
        "buyer": {"driver_id": issued.driver_id, "name": None, "address": None, "vat_id": None} | (issued.buyer or {}),
        "cdr_id": cdr.cdr_id,
        "session_id": cdr.session_id,
        "station_id": cdr.station_id,
        "station_address": station_address,
        "evse_id": cdr.evse_id,
        "connector_id": cdr.connector_id,
        "period": {"start": rfc3339(cdr.started_at), "end": rfc3339(cdr.ended_at)},
        "energy_kwh": str(cdr.energy_kwh),
        "duration_s": p.duration_s,
        "tariff_id": p.tariff_id or None,
        "currency": cur,
        "lines": [
            {
                "description": line.description,
                "quantity": str(line.billed_quantity),
                "unit": line.unit,
                "unit_price": str(line.unit_price),
                "price_per": line.price_per,
                "amount": fmt(line.amount, cur),
                "vat_percent": None if line.vat_percent is None else str(line.vat_percent),
            }
            for line in p.lines
        ],
        "vat": [
            {"vat_percent": str(v.vat_percent), "taxable": fmt(v.taxable, cur), "vat": fmt(v.vat, cur)} for v in p.vat
        ],
        "total_excl_vat": fmt(p.total_excl_vat, cur),
        "total_vat": fmt(p.total_vat, cur),
        "total_incl_vat": fmt(p.total_incl_vat, cur),
        "payment": {"method": paid.method, "state": paid.state, "label": paid.label, "captured": paid.captured},
    }

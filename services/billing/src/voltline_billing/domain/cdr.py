"""Charge detail records: the priced, final account of one session, and how they leave the system
(the API's JSON, a CSV row; the OCPI shape is in ocpi.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from voltline_billing.domain.money import fmt
from voltline_billing.domain.priced import PricedSession, rfc3339

CSV_COLUMNS = (
    "cdr_id", "session_id", "station_id", "evse_id", "connector_id", "driver_id", "id_token", "started_at",
    "ended_at", "duration_s", "charging_s", "idle_s", "energy_kwh", "tariff_id", "tariff_version", "currency",
    "total_excl_vat", "total_vat", "total_incl_vat", "payment_state",
)  # fmt: skip


@dataclass(frozen=True)
class Cdr:
    cdr_id: str
    session_id: str
    station_id: str
    evse_id: int | None
    connector_id: int | None
    id_token: str | None
    driver_id: str | None
    started_at: datetime
    ended_at: datetime
    stop_reason: str | None
    priced: PricedSession
    tariff: dict[str, Any] | None  # the tariff version as priced (OCPI shape), None when none applied
    subscription_id: str | None
    created_at: datetime

    @property
    def energy_kwh(self) -> Decimal:
        return Decimal(self.priced.energy_wh).scaleb(-3)


def cdr_json(cdr: Cdr, payment_state: str | None) -> dict[str, Any]:
    p, cur = cdr.priced, cdr.priced.currency
    return {
        "cdr_id": cdr.cdr_id,
        "session_id": cdr.session_id,
        "station_id": cdr.station_id,
        "evse_id": cdr.evse_id,
        "connector_id": cdr.connector_id,
        "id_token": cdr.id_token,
        "driver_id": cdr.driver_id,
        "started_at": cdr.started_at,
        "ended_at": cdr.ended_at,
        "stop_reason": cdr.stop_reason,
        "currency": cur,
        "energy_kwh": str(cdr.energy_kwh),
        "duration_s": p.duration_s,
        "charging_s": p.charging_s,
        "idle_s": p.idle_s,
        "tariff_id": p.tariff_id or None,
        "tariff_version": p.tariff_version if p.tariff_id else None,
        "subscription_id": cdr.subscription_id,
        "total_excl_vat": fmt(p.total_excl_vat, cur),
        "total_vat": fmt(p.total_vat, cur),
        "total_incl_vat": fmt(p.total_incl_vat, cur),
        "vat": [
            {"vat_percent": str(v.vat_percent), "taxable": fmt(v.taxable, cur), "vat": fmt(v.vat, cur)} for v in p.vat
        ],
        "lines": [line.to_json() for line in p.lines],
        "payment_state": payment_state,
        "created_at": cdr.created_at,
    }


def csv_row(cdr: Cdr, payment_state: str | None) -> list[str]:
    data = cdr_json(cdr, payment_state)
    data["started_at"], data["ended_at"] = rfc3339(cdr.started_at), rfc3339(cdr.ended_at)
    return ["" if data.get(col) is None else str(data[col]) for col in CSV_COLUMNS]

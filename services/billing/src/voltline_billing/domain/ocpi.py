"""Tariffs and CDRs in OCPI 2.2.1's JSON shape (modules tariffs and cdrs), for roaming partners and exports.

OCPI numbers are JSON numbers; they are written from the exact decimals (short decimals survive the
trip through a float's shortest representation unchanged).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from voltline_billing.domain.cdr import Cdr
from voltline_billing.domain.money import round_half_up, round_money
from voltline_billing.domain.priced import Line, rfc3339
from voltline_billing.domain.tariffs import Dimension, Tariff


def _num(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _price(excl: Decimal, incl: Decimal) -> dict[str, int | float]:
    return {"excl_vat": _num(excl), "incl_vat": _num(incl)}


def ocpi_tariff(tariff: Tariff, country_code: str, party_id: str, last_updated: datetime) -> dict[str, Any]:
    def restrictions(r: Any) -> dict[str, Any]:
        raw = r.model_dump(mode="json", exclude_none=True)
        return {k: (_num(Decimal(v)) if isinstance(v, str) and k.startswith(("min_", "max_")) else v)
                for k, v in raw.items()}  # fmt: skip

    elements = []
    for element in tariff.elements:
        components = []
        for c in element.price_components:
            component: dict[str, Any] = {"type": c.type.value, "price": _num(c.price), "step_size": c.step_size}
            if c.vat is not None:
                component["vat"] = _num(c.vat)
            components.append(component)
        out: dict[str, Any] = {"price_components": components}
        if element.restrictions is not None:
            out["restrictions"] = restrictions(element.restrictions)
        elements.append(out)
    body: dict[str, Any] = {
        "country_code": country_code,
        "party_id": party_id,
        "id": tariff.tariff_id,
        "currency": tariff.currency,
        "type": "REGULAR",
        "elements": elements,
        "last_updated": rfc3339(last_updated),
    }
    for name in ("min_price", "max_price"):
        limit = getattr(tariff, name)
        if limit is not None:
            body[name] = {"excl_vat": _num(limit.excl_vat)}
            if limit.incl_vat is not None:
                body[name]["incl_vat"] = _num(limit.incl_vat)
    if tariff.valid_from is not None:
        body["start_date_time"] = rfc3339(tariff.valid_from)
    return body


def _hours(seconds: Decimal) -> int | float:
    return _num(round_half_up(seconds / 3600, 6))


def _cost(lines: list[Line]) -> dict[str, int | float]:
    excl = sum((line.amount for line in lines), Decimal(0))
    vat = sum((line.amount * (line.vat_percent or 0) / 100 for line in lines), Decimal(0))
    return _price(excl, round_money(excl + vat, lines[0].currency) if lines else Decimal(0))


def ocpi_cdr(cdr: Cdr, country_code: str, party_id: str) -> dict[str, Any]:
    p = cdr.priced
    periods: dict[datetime, list[dict[str, Any]]] = {}
    for line in p.lines:
        if line.kind != "tariff" or line.dimension is Dimension.FLAT:
            continue
        volume = _num(line.quantity) if line.dimension is Dimension.ENERGY else _hours(line.quantity)
        periods.setdefault(line.start, []).append({"type": line.dimension.value, "volume": volume})

    def cost(dimension: Dimension) -> dict[str, int | float]:
        return _cost([line for line in p.lines if line.dimension is dimension])

    tariffs = []
    if cdr.tariff is not None:
        tariffs.append(ocpi_tariff(Tariff.model_validate(cdr.tariff), country_code, party_id, cdr.created_at))
    return {
        "country_code": country_code,
        "party_id": party_id,
        "id": cdr.cdr_id,
        "start_date_time": rfc3339(cdr.started_at),
        "end_date_time": rfc3339(cdr.ended_at),
        "session_id": cdr.session_id,
        "cdr_token": {"uid": cdr.id_token or "", "type": "RFID", "contract_id": cdr.driver_id or ""},
        "auth_method": "AUTH_REQUEST",
        "cdr_location": {
            "id": cdr.station_id,
            "evse_uid": f"{cdr.station_id}*{cdr.evse_id or 1}",
            "connector_id": str(cdr.connector_id or 1),
        },
        "currency": p.currency,
        "tariffs": tariffs,
        "charging_periods": [
            {"start_date_time": rfc3339(start), "dimensions": dims, "tariff_id": p.tariff_id}
            for start, dims in sorted(periods.items())
        ],
        "total_cost": _price(p.total_excl_vat, p.total_incl_vat),
        "total_fixed_cost": cost(Dimension.FLAT),
        "total_energy": _num(cdr.energy_kwh),
        "total_energy_cost": cost(Dimension.ENERGY),
        "total_time": _hours(Decimal(p.duration_s)),
        "total_time_cost": cost(Dimension.TIME),
        "total_parking_time": _hours(Decimal(p.idle_s)),
        "total_parking_cost": cost(Dimension.PARKING_TIME),
        "last_updated": rfc3339(cdr.created_at),
    }

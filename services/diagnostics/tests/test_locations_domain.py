"""The pure parts of locations: distance, the search box, EVSEs from status, filters, the rate limit, and the
price that applies from billing's tariff records."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from voltline_diagnostics.domain.locations import Filter, LiveConnector, bounding_box, evse_matches, evses, haversine_km
from voltline_diagnostics.domain.rate_limit import RateLimiter
from voltline_diagnostics.domain.tariff_table import TariffTable
from voltline_events.payloads import TariffAssigned, TariffChanged
from voltline_events.payloads.billing import price_text

T2 = {"connector_id": 1, "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE",
      "max_power_kw": "22"}  # fmt: skip
NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)


def test_haversine_known_distances() -> None:
    assert haversine_km(52.52, 13.405, 52.52, 13.405) == 0
    assert haversine_km(52.5200, 13.4050, 48.1351, 11.5820) == pytest.approx(504.4, abs=1.0)  # Berlin-Munich
    assert haversine_km(0, 179.9, 0, -179.9) == pytest.approx(22.24, abs=0.05)  # across the antimeridian


@pytest.mark.parametrize(
    ("lat", "lon", "radius"), [(52.52, 13.4, 10), (0, 179.95, 20), (-33.9, -179.99, 5), (89.99, 0, 5)]
)
def test_the_box_contains_the_whole_circle(lat: float, lon: float, radius: float) -> None:
    box = bounding_box(lat, lon, radius)
    for bearing in range(0, 360, 15):  # points just inside the radius in every direction
        d = radius * 0.999 / 6371.0088
        b, p1, l1 = math.radians(bearing), math.radians(lat), math.radians(lon)
        p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
        l2 = l1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
        plat, plon = math.degrees(p2), (math.degrees(l2) + 540) % 360 - 180
        assert box.min_lat <= plat <= box.max_lat
        assert any(west <= plon <= east for west, east in box.lon_ranges), (bearing, plon, box)


def test_evses_from_status_when_the_operator_gave_none_and_unknown_offline() -> None:
    live = [LiveConnector(1, 1, "Occupied"), LiveConnector(1, 2, "Available"), LiveConnector(2, 1, "Faulted"),
            LiveConnector(0, 0, "Available")]  # fmt: skip
    found = evses([], live, online=True)
    assert [(e.evse_id, e.status, [c["connector_id"] for c in e.connectors]) for e in found] == [
        (1, "Available", [1, 2]),
        (2, "Faulted", [1]),
    ]
    assert [e.status for e in evses([], live, online=False)] == ["Unknown", "Unknown"]
    described = evses([{"evse_id": 1, "connectors": [T2]}, {"evse_id": 3, "connectors": [T2]}], live, online=True)
    assert [(e.evse_id, e.status) for e in described] == [(1, "Available"), (3, "Unknown")]
    assert (
        described[0].to_json("CP-1")["uid"] == "CP-1*1" and described[0].to_json("CP-1")["ocpi_status"] == "AVAILABLE"
    )


def test_filters() -> None:
    [evse] = evses([{"evse_id": 1, "connectors": [T2]}], [LiveConnector(1, 1, "Available")], online=True)
    assert evse_matches(evse, Filter())
    assert evse_matches(evse, Filter(connector_type="IEC_62196_T2", min_power_kw=Decimal(22), available=True))
    assert not evse_matches(evse, Filter(connector_type="CHADEMO"))
    assert not evse_matches(evse, Filter(min_power_kw=Decimal("22.1")))
    [unknown] = evses([], [LiveConnector(1, 1, "Occupied")], online=True)
    assert not evse_matches(unknown, Filter(min_power_kw=Decimal(1)))  # power unknown: not shown as matching
    assert not evse_matches(unknown, Filter(available=True))


def test_rate_limiter_bursts_then_refills() -> None:
    limiter = RateLimiter(rate_per_min=60, burst=2, max_keys=2)
    assert limiter.take("a", 0) == 0 and limiter.take("a", 0) == 0
    assert limiter.take("a", 0) == pytest.approx(1.0)
    assert limiter.take("b", 0) == 0
    assert limiter.take("a", 1.0) == 0  # one token back after a second
    limiter.take("c", 1.0)  # "b" is forgotten (least recently seen)
    assert limiter.take("b", 1.0) == 0 and limiter.take("b", 1.0) == 0


def _tariff(tariff_id: str, version: int, price: str, valid_from: datetime | None = None) -> TariffChanged:
    return TariffChanged(tariff_id=tariff_id, version=version, currency="EUR", valid_from=valid_from,
                         energy_price_per_kwh=Decimal(price), vat_percent=Decimal(19))  # fmt: skip


def test_tariff_table_resolves_station_group_default_and_versions() -> None:
    table = TariffTable()
    later = NOW + timedelta(days=1)
    for event in (_tariff("STD", 1, "0.30"), _tariff("STD", 2, "0.40", later), _tariff("FAST", 1, "0.60"),
                  _tariff("GRP", 1, "0.50")):  # fmt: skip
        table.apply(event)
    assert table.for_station("CP-1", NOW) is None
    table.apply(TariffAssigned(scope="default", tariff_id="STD", assigned_at=NOW))
    assert table.for_station("CP-1", NOW).energy_price_per_kwh == Decimal("0.30")  # type: ignore[union-attr]
    assert table.for_station("CP-1", NOW + timedelta(days=2)).version == 2  # type: ignore[union-attr]
    table.apply(TariffAssigned(scope="group", scope_id="G", tariff_id="GRP", station_ids=["CP-1"], assigned_at=NOW))
    assert table.for_station("CP-1", NOW).tariff_id == "GRP"  # type: ignore[union-attr]
    table.apply(TariffAssigned(scope="station", scope_id="CP-1", tariff_id="FAST", assigned_at=NOW))
    assert table.for_station("CP-1", NOW).tariff_id == "FAST"  # type: ignore[union-attr]
    assert table.for_station("CP-2", NOW).tariff_id == "STD"  # type: ignore[union-attr]


def test_price_text() -> None:
    assert price_text("EUR", Decimal("0.35"), Decimal("1.20"), Decimal("1.00"), Decimal(19)) == (
        "0.42 EUR/kWh + 1.43 EUR/h + 1.19 EUR per session (incl. 19% VAT)"
    )
    assert price_text("EUR", None, None, None, None) == "free of charge"
    assert price_text("JPY", Decimal(40), None, None, Decimal(10)) == "44 JPY/kWh (incl. 10% VAT)"


def test_connectors_described_by_the_device_model() -> None:
    [evse] = evses([], [LiveConnector(1, 1, "Available", "sType2", 22_000), LiveConnector(1, 2, "Faulted", "cX")], True)
    assert evse.connectors == [
        {"connector_id": 1, "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": None, "max_power_kw": "22"},
        {"connector_id": 2, "standard": None, "format": None, "power_type": None, "max_power_kw": None},
    ]
    assert evse_matches(evse, Filter(connector_type="IEC_62196_T2", min_power_kw=Decimal(11)))

"""The console's pure shapes: status timeline, session series, KPI totals, maintenance forms, tariff preview."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from voltline_console.domain.charts import coordinates, kpi_series, session_series, timeline
from voltline_console.domain.commands import ACTIONS, action_body, configuration_keys
from voltline_console.domain.pricing import Preview, preview, simple_values

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


def test_the_timeline_spans_the_period_and_an_open_interval_runs_until_now() -> None:
    history = {"from": "2026-12-04T10:00:00Z", "to": "2026-12-05T10:00:00Z", "items": [
        {"evse_id": 1, "connector_id": 1, "from": "2026-12-04T10:00:00Z", "to": "2026-12-05T04:00:00Z",
         "status": "Available"},
        {"evse_id": 1, "connector_id": 1, "from": "2026-12-05T04:00:00Z", "to": None, "status": "Faulted",
         "error_code": "GroundFailure"},
    ]}  # fmt: skip
    [row] = timeline(history, NOW)
    assert row.connector == "1/1"
    assert [(s.status, s.x, s.width) for s in row.segments] == [("Available", 0, 750), ("Faulted", 750, 250)]


def test_a_young_stations_timeline_starts_at_its_first_report() -> None:
    history = {"from": "2026-12-04T10:00:00Z", "to": "2026-12-05T10:00:00Z", "items": [
        {"evse_id": 1, "connector_id": 1, "from": "2026-12-05T09:59:00Z", "to": None, "status": "Available"},
    ]}  # fmt: skip
    [row] = timeline(history, NOW)
    assert [(s.x, s.width) for s in row.segments] == [(0, 1000)]


def test_session_series_power_in_kw_and_session_energy_in_kwh() -> None:
    items = [
        {"at": "2026-12-05T09:00:00Z", "measurand": "Energy.Active.Import.Register", "value": "1000", "energy_wh": "0"},
        {"at": "2026-12-05T09:01:00Z", "measurand": "Power.Active.Import", "value": "7.4", "unit": "kW"},
        {"at": "2026-12-05T09:01:00Z", "measurand": "Energy.Active.Import.Register", "value": "1200",
         "energy_wh": "200"},
    ]  # fmt: skip
    series = session_series(items)
    assert len(series["t"]) == 2 and series["power_kw"] == [None, 7.4] and series["energy_kwh"] == [0.0, 0.2]


def test_kpi_totals_are_exact_and_averages_skip_days_without_a_figure() -> None:
    buckets = [
        {"bucket_start": "2026-12-04T00:00:00Z", "energy_kwh": "0.1", "revenue_incl_vat": "0.10",
         "utilisation_percent": 10, "uptime_percent": None},
        {"bucket_start": "2026-12-05T00:00:00Z", "energy_kwh": "0.2", "revenue_incl_vat": "0.20",
         "utilisation_percent": 20, "uptime_percent": 99.5},
    ]  # fmt: skip
    kpis = kpi_series(buckets)
    assert kpis.totals == {"energy_kwh": Decimal("0.3"), "revenue_incl_vat": Decimal("0.30")}
    assert kpis.averages == {"utilisation_percent": Decimal("15.0"), "uptime_percent": Decimal("99.5")}
    assert kpis.values["uptime_percent"] == [None, 99.5]


def test_positions_only_when_valid() -> None:
    stations = [
        {"station_id": "A", "health": "online", "location": {"latitude": "52.5", "longitude": 13.4}},
        {"station_id": "B", "latitude": 48.1, "longitude": 11.6},
        {"station_id": "C", "location": {"latitude": 91, "longitude": 0}},
        {"station_id": "D"},
    ]
    assert [s["station_id"] for s in stations if coordinates(s)] == ["A", "B"]
    assert coordinates(stations[0]) == (52.5, 13.4)


def test_action_forms_are_typed_and_refused_field_by_field() -> None:
    body, errors = action_body(ACTIONS["availability"], {"operative": "false", "evse_id": "1", "connector_id": ""})
    assert (body, errors) == ({"operative": False, "evse_id": 1}, {})
    body, errors = action_body(ACTIONS["unlock"], {"connector_id": "-1"})
    assert errors == {"connector_id": "a whole number"}
    body, errors = action_body(ACTIONS["trigger"], {"message": "reboot"})
    assert "message" in errors
    assert action_body(ACTIONS["get-configuration"], {"keys": "A, B,"})[0] == {"keys": ["A", "B"]}
    rows = configuration_keys({"configurationKey": [{"key": "K", "value": "1", "readonly": True}]})
    assert rows == [{"key": "K", "value": "1", "readonly": True}]


def test_tariff_simple_values_and_an_exact_preview() -> None:
    components = [
        {"type": "ENERGY", "price": "0.35"},
        {"type": "TIME", "price": "1.20"},
        {"type": "FLAT", "price": "1.00"},
    ]
    tariff = {"tariff_id": "T", "currency": "EUR", "vat_percent": "19", "elements": [{"price_components": components}]}
    values = simple_values(tariff)
    assert values["energy_price_per_kwh"] == "0.35" and values["time_price_per_hour"] == "1.20"
    # test_billing_flow's session: 22.5 kWh, 75 min: 7.875 + 1.50 + 1.00 = 10.375 -> 10.38, VAT 19 % 1.97
    found = preview(values, Decimal("22.5"), Decimal("1.25"), Decimal(0))
    assert isinstance(found, Preview) and (found.excl_vat, found.vat, found.incl_vat) == (
        Decimal("10.38"),
        Decimal("1.97"),
        Decimal("12.35"),
    )
    assert preview({**values, "session_fee": "x"}, Decimal(1), Decimal(0), Decimal(0)) == {
        "session_fee": "a number, e.g. 0.35"
    }

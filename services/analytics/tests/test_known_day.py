"""End to end over real Kafka and PostgreSQL: a known day gives hand-computed KPIs, CSV, NEVI and AFIR data,
and replaying the whole log into an empty store (SQLite this time) gives identical figures."""

from __future__ import annotations

import csv
import io
import secrets
from typing import Any

from analytics_testing import ADMIN, DAY, Publisher, Running, at, publish_known_day, running_analytics
from voltline_devinfra.waiting import eventually
from voltline_events import Topics

DAY_Q = {"from": DAY.isoformat(), "to": at(0, day=1).isoformat(), "granularity": "day"}

# Hand-computed in docs/analytics.md ("A worked day").
NETWORK_DAY = {
    "sessions": 4,
    "completed_sessions": 3,
    "failed_sessions": 1,
    "failed_auth": 1,
    "failed_low_energy": 0,
    "failed_error": 0,
    "energy_kwh": "60.000",
    "charging_hours": "2.75",
    "idle_hours": "0.27",
    "occupied_hours": "3.02",
    "revenue_excl_vat": "19.00",
    "revenue_incl_vat": "22.61",
    "refunds_incl_vat": "4.76",
    "currency": "EUR",
    "utilisation_percent": "4.19",
    "uptime_percent": "90.97",
    "avg_energy_kwh": "20.000",
    "avg_duration_min": "60.0",
    "peak_power_kw": "50.00",
    "unique_drivers": 3,
    "co2_avoided_kg": "41.667",
}


async def _day(svc: Running, **scope: str) -> dict[str, Any] | None:
    response = await svc.get("/kpis", **DAY_Q, **scope)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert len(items) == 1
    return items[0]


async def _settled(svc: Running) -> bool:
    """Everything of the known day applied: the last events of each stream are visible."""
    item = await _day(svc)
    late = await svc.get("/late-events")
    return bool(item and item["sessions"] == 4 and item["revenue_incl_vat"] == "22.61" and late.json()["items"]
                and item["uptime_percent"] == "90.97")  # fmt: skip


async def _snapshot(svc: Running) -> dict[str, Any]:
    """Everything a replay must reproduce."""
    out: dict[str, Any] = {}
    for scope in ({}, {"station_id": "CP-A"}, {"station_id": "CP-B"}):
        for granularity in ("hour", "day", "month"):
            q = {**DAY_Q, "to": at(0, day=2).isoformat(), "granularity": granularity, **scope}
            out[f"{scope}-{granularity}"] = (await svc.get("/kpis", **q)).json()["items"]
    out["nevi"] = (await svc.get("/exports/nevi/sessions", **DAY_Q)).text
    out["uptime"] = (await svc.get("/exports/nevi/uptime", month="2026-11")).text
    afir = (await svc.get("/afir/locations")).json()
    out["afir"] = afir["data"]
    return out


async def test_known_day_and_replay(kafka: Any, postgres: Any, sqlite_url: str) -> None:
    prefix = f"t-{secrets.token_hex(4)}."
    pg = str(postgres.create_database(f"analytics_{secrets.token_hex(4)}"))
    async with running_analytics(kafka.bootstrap_servers, pg, prefix, "live") as live:
        pub = Publisher(kafka.bootstrap_servers, Topics(prefix))
        await pub.producer.start()
        try:
            await publish_known_day(pub)
        finally:
            await pub.producer.stop()
        await eventually(lambda: _settled(live), within=60)

        network = await _day(live)
        assert network is not None
        assert {k: network[k] for k in NETWORK_DAY} == NETWORK_DAY
        a, b = await _day(live, station_id="CP-A"), await _day(live, station_id="CP-B")
        assert a is not None and b is not None
        assert (a["sessions"], a["energy_kwh"], a["revenue_excl_vat"], a["revenue_incl_vat"]) == (
            3,
            "30.000",
            "11.00",
            "13.09",
        )
        assert (a["utilisation_percent"], a["uptime_percent"]) == ("8.40", "81.25")
        assert (b["sessions"], b["energy_kwh"], b["revenue_excl_vat"], b["revenue_incl_vat"]) == (
            1,
            "30.000",
            "8.00",
            "9.52",
        )
        assert (b["refunds_incl_vat"], b["utilisation_percent"], b["uptime_percent"]) == ("4.76", "2.08", "95.83")

        hours = (await live.get("/kpis", **{**DAY_Q, "granularity": "hour", "station_id": "CP-A"})).json()["items"]
        by_hour = {h["bucket_start"][11:13]: h for h in hours}
        assert len(hours) == 24
        assert (by_hour["08"]["energy_kwh"], by_hour["08"]["charging_hours"], by_hour["08"]["idle_hours"]) == (
            "10.000",
            "0.50",
            "0.00",
        )
        assert (by_hour["09"]["energy_kwh"], by_hour["09"]["charging_hours"], by_hour["09"]["idle_hours"]) == (
            "10.000",
            "0.25",
            "0.25",
        )
        assert by_hour["08"]["revenue_incl_vat"] == "8.33"  # the revised CDR replaced the first, not added to it
        assert by_hour["20"]["uptime_percent"] == "0.00"  # offline all hour (the late session still counts)
        assert by_hour["20"]["sessions"] == 1

        text = (await live.get("/kpis", **DAY_Q, format="csv")).text
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == 1
        assert {k: rows[0][k] for k in ("sessions", "energy_kwh", "revenue_incl_vat", "uptime_percent")} == {
            "sessions": "4", "energy_kwh": "60.000", "revenue_incl_vat": "22.61", "uptime_percent": "90.97"
        }  # fmt: skip

        nevi = list(csv.DictReader(io.StringIO((await live.get("/exports/nevi/sessions", **DAY_Q)).text)))
        assert [(r["session_id"], r["port_id"], r["energy_kwh"], r["peak_power_kw"], r["payment_method"],
                 r["successful"], r["error_code"]) for r in nevi] == [
            ("S1", "1", "20.000", "22.00", "rfid_card", "true", ""),
            ("S2", "1", "30.000", "50.00", "app", "true", ""),
            ("S3", "1", "0.000", "", "rfid_card", "false", "DeAuthorized"),
            ("S4", "1", "10.000", "11.00", "rfid_card", "true", ""),
        ]  # fmt: skip

        uptime = list(csv.DictReader(io.StringIO((await live.get("/exports/nevi/uptime", month="2026-11")).text)))
        ports = {(r["station_id"], r["port_id"]): r for r in uptime}
        assert ports[("CP-A", "1")]["outage_minutes"] == "330.0"  # 19:30 to 01:00
        assert ports[("CP-B", "2")]["outage_minutes"] == "120.0"  # faulted 13:00 to 15:00
        assert ports[("CP-B", "2")]["outages"].endswith("/fault/120.0")
        assert ports[("CP-B", "1")]["outage_count"] == "0"

        afir = (await live.get("/afir/locations")).json()
        evses = {e["uid"]: e for loc in afir["data"] for e in loc["evses"]}
        # Ports with no status notification yet are UNKNOWN; CP-B's EVSE 2 recovered from its fault.
        assert {uid: e["status"] for uid, e in evses.items()} == {
            "CP-A*1": "UNKNOWN",
            "CP-B*1": "UNKNOWN",
            "CP-B*2": "AVAILABLE",
        }

        put = await live.api.put("/api/v1/groups/site-1", json={"stations": ["CP-A", "CP-B"]}, headers=ADMIN)
        assert put.status_code == 200, put.text
        group = await _day(live, group_id="site-1")
        assert group is not None and {k: group[k] for k in NETWORK_DAY} == NETWORK_DAY

        ranks = (await live.get("/rankings", metric="utilisation", **{k: DAY_Q[k] for k in ("from", "to")})).json()
        assert [(r["station_id"], r["value"]) for r in ranks["top"]] == [("CP-A", "8.40"), ("CP-B", "2.08")]
        failures = (await live.get("/rankings", metric="failures", **{k: DAY_Q[k] for k in ("from", "to")})).json()
        assert failures["top"][0] == {"station_id": "CP-A", "value": "1"}

        report = await live.get("/reports/monthly", month="2026-11")
        assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
        assert "Network report 2026-11" in report.text and "Chart.js v4.6.1" in report.text
        assert '<canvas id="energy">' in report.text

        late = (await live.get("/late-events")).json()["items"]
        assert [e["session_id"] for e in late] == ["S0"]

        expected = await _snapshot(live)

    # Replay: a new consumer group reads the same log from the beginning into an empty SQLite store, with the
    # other worker implementation (the faust agent instead of the batch consumer; the bus worker runs below).
    async with running_analytics(kafka.bootstrap_servers, sqlite_url, prefix, "replay", worker="faust") as replay:
        await eventually(lambda: _settled(replay), within=60)
        assert await _snapshot(replay) == expected


async def test_bad_queries_are_422_naming_the_field(kafka: Any, sqlite_url: str) -> None:
    prefix = f"t-{secrets.token_hex(4)}."
    async with running_analytics(kafka.bootstrap_servers, sqlite_url, prefix, "bad", worker="bus") as svc:
        cases = [
            ({"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "query.from"),
            ({"from": "2026-11-02T00:00:00", "to": "2026-11-03T00:00:00Z"}, "query.from"),
            ({"granularity": "week"}, "query.granularity"),
            ({"format": "xml"}, "query.format"),
            ({"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z", "granularity": "hour"}, "query.to"),
        ]
        for params, field in cases:
            response = await svc.get("/kpis", **params)
            assert response.status_code == 422, (params, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert field in [e["field"] for e in response.json()["errors"]], response.json()
        bad_month = await svc.get("/exports/nevi/uptime", month="2026-13")
        assert bad_month.status_code == 422 and bad_month.json()["errors"][0]["field"] == "query.month"
        unauthenticated = await svc.api.get("/api/v1/kpis")
        assert unauthenticated.status_code == 401

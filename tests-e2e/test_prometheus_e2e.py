"""The SRE kit against a running stack: a real Prometheus (Debian's package) scrapes every service and a node
exporter, loads the alert rules, and every dashboard panel query and every alert expression must be valid and
select data.

Traffic: one OCPP 1.6 card session (connect, boot, start, meter values, stop), an unknown action (a CallError),
a refused connect (bad subprotocol) and a record that is no envelope (dead letters, which must fire the
VoltlineDeadLetters alert for real). Metrics that only move on failure and were not provoked here must still be
exposed by a target (Prometheus knows their metadata): they are listed in QUIET.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiokafka import AIOKafkaProducer
from e2e_support import RunningSystem, start_system
from ocpp_client import station
from test_session_flow import BOOT_16, ENERGY, Charger, api, rfc3339
from test_session_support import eventually
from voltline_devinfra.prometheus import NodeExporter, PrometheusServer
from voltline_events.topics import Topics

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus" / "rules" / "voltline.rules.yml"
sys.path.insert(0, str(ROOT / "deploy" / "grafana"))
from dashboards import render  # noqa: E402

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Selectors of metrics that only get series when something fails (or a feature is used) that this short
# scenario does not provoke; the test still requires a target to expose them (HELP/TYPE metadata).
QUIET = {
    'voltline_http_requests_total{status=~"5.."}',
    "voltline_bus_request_timeouts_total",
    "voltline_bus_publish_failures_total",
    "voltline_bus_late_replies_total",
    "voltline_outbox_relay_errors_total",
    "voltline_gateway_quirks_repaired_total",
    "voltline_gateway_commands_total",
    "voltline_gateway_command_seconds_bucket",
    "voltline_bus_request_duration_seconds_bucket",
}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool"}
SESSION_ENV = {"VOLTLINE_SESSION_SUSPECT_CHECK_INTERVAL_S": "0.5"}
DIAGNOSTICS_ENV = {  # the station's disconnect opens a station_offline alert (voltline_diagnostics_open_alerts)
    "VOLTLINE_ALERT_RULES": json.dumps({"station_offline": {"after_s": 1}}),
    "VOLTLINE_MONITOR_INTERVAL_S": "0.5",
}


def selectors(expr: str) -> set[str]:
    """The vector selectors of a PromQL expression, matchers included (`name{...}` or a bare `name`)."""
    text = re.sub(r"\[\d+[smhdwy](:\d*[smhdwy]?)?\]|\boffset\s+\d+[smhdwy]", "", expr)  # ranges, offsets
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", text)  # grouping labels
    found = set()
    for match in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?(\s*\()?", text):
        name, matchers, call = match.groups()
        if call or name in KEYWORDS or re.fullmatch(r"\d+[smhdwy]", name):
            continue
        found.add(name + (matchers or ""))
    return found


def dashboard_queries() -> list[tuple[str, str]]:
    out = []
    for file, text in render().items():
        for panel in json.loads(text)["panels"]:
            out += [(f"{file}: {panel['title']}", target["expr"]) for target in panel["targets"]]
    return out


def alert_expressions() -> list[tuple[str, str]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [(rule["alert"], rule["expr"]) for group in groups for rule in group["rules"] if "alert" in rule]


@pytest.fixture(scope="module")
def system(kafka: Any, postgres: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    yield from start_system(
        kafka,
        postgres,
        tmp_path_factory.mktemp("prometheus"),
        extra_env={"session": SESSION_ENV, "diagnostics": DIAGNOSTICS_ENV},
    )


@pytest.fixture(scope="module")
def prometheus(system: RunningSystem) -> Iterator[PrometheusServer]:
    with NodeExporter() as node:
        targets = {f"voltline-{name}": [s.url.removeprefix("http://")] for name, s in system.stack.services.items()}
        targets["node"] = [node.address]
        with PrometheusServer(targets, rule_files=[RULES], scrape_interval="2s") as server:
            yield server


async def produce_traffic(system: RunningSystem) -> None:
    headers = system.headers
    async with httpx.AsyncClient(timeout=30) as anonymous:  # a 401: voltline_http_requests_total{status="401"}
        assert (await anonymous.get(f"{system.url('auth')}/api/v1/stations")).status_code == 401
    async with httpx.AsyncClient(base_url=f"{system.url('auth')}/api/v1", headers=headers, timeout=30) as auth:
        assert (await auth.post("/stations", json={"station_id": "CP-PROM-1"})).status_code == 201
        token = {"id_token": "CARDPROM1", "type": "ISO14443"}
        assert (await auth.post("/id-tokens", json=token)).status_code == 201
    start = datetime.now(UTC) - timedelta(minutes=30)
    async with station(system.ocpp_url, "CP-PROM-1") as ws:
        cp = Charger(ws)
        assert (await cp.call("BootNotification", BOOT_16))["status"] == "Accepted"
        status = {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": rfc3339(start)}
        await cp.call("StatusNotification", status)
        # Answered by the gateway from auth's published decisions (ADR 0015): no lookup in auth's cache.
        assert (await cp.call("Authorize", {"idTag": "CARDPROM1"}))["idTagInfo"]["status"] == "Accepted"
        begin = {"connectorId": 1, "idTag": "CARDPROM1", "meterStart": 0, "timestamp": rfc3339(start)}
        started = await cp.call("StartTransaction", begin)  # asks auth: a miss that fills its token cache
        assert started["idTagInfo"]["status"] == "Accepted", started
        tx_id = started["transactionId"]
        # A second start with the card (connector 2, no energy) hits auth's token cache.
        second = await cp.call("StartTransaction", {**begin, "connectorId": 2})
        assert second["idTagInfo"]["status"] == "Accepted", second
        stop_second = {"transactionId": second["transactionId"], "meterStop": 0, "timestamp": rfc3339(start)}
        await cp.call("StopTransaction", {**stop_second, "reason": "Local"})
        sample = {"value": "1.5", "unit": "kWh", "measurand": ENERGY, "context": "Sample.Periodic"}
        reading = {"timestamp": rfc3339(start + timedelta(minutes=10)), "sampledValue": [sample]}
        await cp.call("MeterValues", {"connectorId": 1, "transactionId": tx_id, "meterValue": [reading]})
        with pytest.raises(AssertionError):  # a CallError: voltline_gateway_ocpp_call_errors_total
            await cp.call("NoSuchAction", {})
        stop = {"transactionId": tx_id, "meterStop": 3_000, "timestamp": rfc3339(start + timedelta(minutes=20))}
        await cp.call("StopTransaction", {**stop, "reason": "EVDisconnected"})
        await cp.close()
    async with api(system, "session") as sessions:

        async def both_completed() -> list[dict[str, Any]] | None:
            items = (await sessions.get("/sessions", params={"station_id": "CP-PROM-1"})).json()["items"]
            done = [s for s in items if s["status"] == "completed"]
            return done if len(done) == 2 else None

        done = await eventually(both_completed, what="both sessions of CP-PROM-1 completed")
        assert sorted(s["energy_wh"] for s in done) == [0, 3_000]
    with pytest.raises(Exception):  # noqa: B017 - refused at the upgrade: voltline_gateway_connections_total
        async with station(system.ocpp_url, "CP-PROM-2", protocol="ocpp9.9"):
            pass
    producer = AIOKafkaProducer(bootstrap_servers=system.kafka_bootstrap)
    await producer.start()
    try:  # not an envelope: dead-lettered at once by every consumer of station events
        await producer.send_and_wait(Topics(prefix=system.topic_prefix).station_events, b"not json", key=b"x")
    finally:
        await producer.stop()


async def test_every_panel_query_and_alert_expression_is_valid_and_selects_data(
    system: RunningSystem, prometheus: PrometheusServer
) -> None:
    async def instant(query: str) -> list[dict[str, Any]]:
        data = await asyncio.to_thread(prometheus.api, "query", query=query)
        return data["result"]  # type: ignore[no-any-return]

    async def has(query: str) -> list[dict[str, Any]]:
        return await instant(query)

    # Every target scraped once before the traffic: counters are then seen at 0 before they move.
    expected = {(f"voltline-{name}", "1") for name in system.stack.services} | {("node", "1")}

    async def all_up() -> bool:
        return {(r["metric"]["job"], r["value"][1]) for r in await instant("up")} == expected

    await eventually(all_up, within=30, what="Prometheus to scrape every target")
    await produce_traffic(system)

    await eventually(lambda: has("sum(voltline_session_energy_wh_total) > 0"), within=60, what="the session's energy")
    await eventually(lambda: has("sum(voltline_bus_messages_dead_lettered_total) > 0"), within=60, what="dead letters")
    # The station's disconnect opened a station_offline alert in diagnostics.
    await eventually(
        lambda: has("sum(voltline_diagnostics_open_alerts) > 0"), within=45, what="an open diagnostics alert"
    )
    # The rule itself, evaluated by Prometheus over the scraped data: the alert goes pending (no `for:`: firing).
    await eventually(lambda: has('ALERTS{alertname="VoltlineDeadLetters"}'), within=30, what="the alert")
    active = await instant("sum(voltline_sessions_active)")
    assert active, "voltline_sessions_active is exported"

    metadata = await asyncio.to_thread(prometheus.api, "metadata")
    problems: list[str] = []
    checked: set[str] = set()
    for where, expr in dashboard_queries() + alert_expressions():
        try:
            await instant(expr)
        except ValueError as exc:
            problems.append(f"{where}: invalid: {exc}")
            continue
        for selector in selectors(expr):
            if selector in checked:
                continue
            checked.add(selector)
            if await instant(f"count({selector})"):
                continue
            name = selector.split("{")[0]
            if selector in QUIET and name.removesuffix("_bucket") in metadata:
                continue
            problems.append(f"{where}: {selector} selects no data")
    assert not problems, "\n".join(problems)
    assert len(checked) > 40, sorted(checked)

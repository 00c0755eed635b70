"""Source of the Grafana dashboards in deploy/grafana/dashboards/: `python deploy/grafana/dashboards.py`.

Panels are written here as (title, unit, queries) and expanded into Grafana's JSON, so every dashboard
shares one layout and datasource; deploy/tests checks the JSON is up to date, and the Prometheus
end-to-end test runs every query against a running stack. Queries aggregate by low-cardinality labels
only (service, group, topic, action, outcome...), never by station.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards"
# The Helm chart can only read files inside itself: it gets a copy (one ConfigMap per dashboard).
HELM_COPY = Path(__file__).resolve().parents[2] / "helm" / "voltline" / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
# (title, unit, [(expr, legend)], kind) with kind "timeseries" or "stat".
Panel = tuple[str, str, list[tuple[str, str]], str]


def q95(metric: str, by: str = "", quantile: float = 0.95) -> str:
    """The quantile of a histogram over 5 minutes, per `by` labels."""
    labels = f"le, {by}" if by else "le"
    return f"histogram_quantile({quantile}, sum by ({labels}) (rate({metric}_bucket[5m])))"


def ts(title: str, unit: str, *queries: tuple[str, str]) -> Panel:
    return (title, unit, list(queries), "timeseries")


def stat(title: str, unit: str, *queries: tuple[str, str]) -> Panel:
    return (title, unit, list(queries), "stat")


HTTP_5XX_RATIO = (
    'sum by (service) (rate(voltline_http_requests_total{status=~"5.."}[5m]))'
    " / sum by (service) (rate(voltline_http_requests_total[5m]))"
)

DASHBOARDS: dict[str, tuple[str, list[Panel]]] = {
    "overview": (
        "voltline / Overview",
        [
            stat("Processes up", "none", ('sum(up{job=~"voltline.*"})', "up")),
            stat("Processes ready", "none", ("sum(voltline_service_ready)", "ready")),
            stat("Connected stations", "none", ("sum(voltline_gateway_connected_stations)", "stations")),
            stat("Active sessions", "none", ("sum(voltline_sessions_active)", "sessions")),
            ts("Up by job", "none", ('up{job=~"voltline.*"}', "{{job}} {{instance}}")),
            ts("Ready by service", "none", ("max by (service) (voltline_service_ready)", "{{service}}")),
            ts(
                "HTTP requests/s by service",
                "reqps",
                ("sum by (service) (rate(voltline_http_requests_total[5m]))", "{{service}}"),
            ),
            ts("HTTP 5xx ratio by service", "percentunit", (HTTP_5XX_RATIO, "{{service}}")),
            ts("Consumer lag by group", "none", ("sum by (group) (voltline_bus_consumer_lag)", "{{group}}")),
            ts("Outbox pending rows", "none", ("max by (job) (voltline_outbox_pending_rows)", "{{job}}")),
        ],
    ),
    "gateway": (
        "voltline / Gateway",
        [
            ts(
                "Connected stations by protocol",
                "none",
                ("sum by (ocpp_version) (voltline_gateway_connected_stations)", "{{ocpp_version}}"),
            ),
            ts(
                "Messages/s by action and direction",
                "ops",
                (
                    "sum by (action, direction) (rate(voltline_gateway_ocpp_messages_total[5m]))",
                    "{{direction}} {{action}}",
                ),
            ),
            ts(
                "CallErrors/s by code",
                "ops",
                ("sum by (code, action) (rate(voltline_gateway_ocpp_call_errors_total[5m]))", "{{code}} {{action}}"),
            ),
            ts(
                "Connects by outcome (refused included)",
                "ops",
                ("sum by (outcome) (rate(voltline_gateway_connections_total[5m]))", "{{outcome}}"),
            ),
            ts(
                "Disconnects by cause",
                "ops",
                ("sum by (cause) (rate(voltline_gateway_disconnections_total[5m]))", "{{cause}}"),
            ),
            ts(
                "Auth request/reply p95 by outcome",
                "s",
                (q95("voltline_gateway_decision_seconds", "request, outcome"), "{{request}} {{outcome}}"),
            ),
            ts("Request/reply p95 by topic", "s", (q95("voltline_bus_request_duration_seconds", "topic"), "{{topic}}")),
            ts(
                "Request/reply timeouts/s by topic",
                "ops",
                ("sum by (topic) (rate(voltline_bus_request_timeouts_total[5m]))", "{{topic}}"),
            ),
            ts(
                "Commands/s by action and outcome",
                "ops",
                ("sum by (action, outcome) (rate(voltline_gateway_commands_total[5m]))", "{{action}} {{outcome}}"),
            ),
            ts(
                "Command round trip p95",
                "s",
                ("histogram_quantile(0.95, sum by (le) (rate(voltline_gateway_command_seconds_bucket[5m])))", "p95"),
            ),
            ts("Publish to Kafka p95", "s", (q95("voltline_gateway_publish_seconds", "outcome"), "{{outcome}}")),
            ts(
                "Quirks repaired/s",
                "ops",
                ("sum by (quirk) (rate(voltline_gateway_quirks_repaired_total[5m]))", "{{quirk}}"),
            ),
            stat("Live gateway instances", "none", ("max(voltline_gateway_live_instances)", "instances")),
            stat("Stations in registry", "none", ("max(voltline_gateway_registry_stations)", "stations")),
            stat("Open files limit (min)", "none", ("min(voltline_gateway_open_files_limit)", "limit")),
        ],
    ),
    "http": (
        "voltline / HTTP APIs",
        [
            ts(
                "Requests/s by service",
                "reqps",
                ("sum by (service) (rate(voltline_http_requests_total[5m]))", "{{service}}"),
            ),
            ts(
                "Errors/s by service and status",
                "reqps",
                (
                    'sum by (service, status) (rate(voltline_http_requests_total{status=~"[45].."}[5m]))',
                    "{{service}} {{status}}",
                ),
            ),
            ts("5xx ratio by service", "percentunit", (HTTP_5XX_RATIO, "{{service}}")),
            ts(
                "Latency p50 by service",
                "s",
                (
                    q95("voltline_http_request_duration_seconds", "service", 0.5),
                    "{{service}}",
                ),
            ),
            ts(
                "Latency p95 by service", "s", (q95("voltline_http_request_duration_seconds", "service"), "{{service}}")
            ),
            ts(
                "Latency p99 by service",
                "s",
                (
                    q95("voltline_http_request_duration_seconds", "service", 0.99),
                    "{{service}}",
                ),
            ),
            ts(
                "Slowest routes p95",
                "s",
                (
                    "topk(10, " + q95("voltline_http_request_duration_seconds", "service, route") + ")",
                    "{{service}} {{route}}",
                ),
            ),
        ],
    ),
    "kafka": (
        "voltline / Kafka",
        [
            ts(
                "Consumer lag by group and topic",
                "none",
                ("sum by (group, topic) (voltline_bus_consumer_lag)", "{{group}} {{topic}}"),
            ),
            ts(
                "Consumed/s by group",
                "ops",
                ("sum by (group) (rate(voltline_bus_messages_consumed_total[5m]))", "{{group}}"),
            ),
            ts(
                "Handled/s by group",
                "ops",
                ("sum by (group) (rate(voltline_bus_messages_handled_total[5m]))", "{{group}}"),
            ),
            ts(
                "Handler failures/s by group",
                "ops",
                ("sum by (group, topic) (rate(voltline_bus_messages_failed_total[5m]))", "{{group}} {{topic}}"),
            ),
            ts(
                "Dead letters (1h) by group and topic",
                "none",
                (
                    "sum by (group, topic) (increase(voltline_bus_messages_dead_lettered_total[1h]))",
                    "{{group}} {{topic}}",
                ),
            ),
            ts("Handler p95 by group", "s", (q95("voltline_bus_handler_duration_seconds", "group"), "{{group}}")),
            ts("Batch p95 by group", "s", (q95("voltline_bus_batch_duration_seconds", "group"), "{{group}}")),
            ts("Batch size p95 by group", "none", (q95("voltline_bus_batch_size", "group"), "{{group}}")),
            ts(
                "Batch fallbacks/s",
                "ops",
                ("sum by (group) (rate(voltline_bus_batch_fallbacks_total[5m]))", "{{group}}"),
            ),
            ts("Publish p95 by topic", "s", (q95("voltline_bus_publish_duration_seconds", "topic"), "{{topic}}")),
            ts(
                "Publish failures/s by topic",
                "ops",
                ("sum by (topic) (rate(voltline_bus_publish_failures_total[5m]))", "{{topic}}"),
            ),
            ts(
                "Late replies/s",
                "ops",
                ("sum by (reply_topic) (rate(voltline_bus_late_replies_total[5m]))", "{{reply_topic}}"),
            ),
        ],
    ),
    "storage": (
        "voltline / Outbox and database",
        [
            ts("Outbox pending rows by service", "none", ("max by (job) (voltline_outbox_pending_rows)", "{{job}}")),
            ts(
                "Outbox published/s by service",
                "ops",
                ("sum by (job) (rate(voltline_outbox_relay_published_total[5m]))", "{{job}}"),
            ),
            ts(
                "Outbox relay errors/s",
                "ops",
                ("sum by (job) (rate(voltline_outbox_relay_errors_total[5m]))", "{{job}}"),
            ),
            ts("Outbox commit-to-broker p95", "s", (q95("voltline_outbox_relay_lag_seconds", "job"), "{{job}}")),
            ts(
                "Batch commit p95 (database)",
                "s",
                (
                    "histogram_quantile(0.95, sum by (le, job) (rate(voltline_store_batch_commit_seconds_bucket[5m])))",
                    "{{job}}",
                ),
            ),
            ts(
                "Analytics batch p95 (database)",
                "s",
                (
                    q95("voltline_analytics_batch_duration_seconds"),
                    "analytics",
                ),
            ),
            ts(
                "Auth decision p95 (database and cache)",
                "s",
                ("histogram_quantile(0.95, sum by (le) (rate(voltline_auth_decision_seconds_bucket[5m])))", "auth"),
            ),
            ts(
                "Auth token cache hit ratio",
                "percentunit",
                (
                    'sum(rate(voltline_auth_token_cache_lookups_total{result="hit"}[5m]))'
                    " / sum(rate(voltline_auth_token_cache_lookups_total[5m]))",
                    "hits",
                ),
            ),
        ],
    ),
    "business": (
        "voltline / Business",
        [
            stat("Active sessions", "none", ("sum(voltline_sessions_active)", "active")),
            stat(
                "kWh delivered (24h)", "kwatth", ("sum(increase(voltline_session_energy_wh_total[24h])) / 1000", "kWh")
            ),
            ts("kWh per hour", "kwatth", ("sum(increase(voltline_session_energy_wh_total[1h])) / 1000", "kWh/h")),
            ts("Active sessions", "none", ("sum(voltline_sessions_active)", "active")),
            ts(
                "Sessions started per hour by protocol",
                "none",
                ("sum by (ocpp_version) (increase(voltline_sessions_started_total[1h]))", "{{ocpp_version}}"),
            ),
            ts(
                "Sessions ended per hour",
                "none",
                ("sum by (revised) (increase(voltline_sessions_ended_total[1h]))", "revised={{revised}}"),
            ),
            ts(
                "Open alerts by severity",
                "none",
                ("sum by (severity) (voltline_diagnostics_open_alerts)", "{{severity}}"),
            ),
            ts("Stations by health", "none", ("sum by (health) (voltline_diagnostics_stations)", "{{health}}")),
            ts(
                "Authorisations/s by status",
                "ops",
                ("sum by (purpose, status) (rate(voltline_auth_decisions_total[5m]))", "{{purpose}} {{status}}"),
            ),
            ts("Analytics behind (event time)", "s", ("max(voltline_analytics_event_time_lag_seconds)", "lag")),
        ],
    ),
}


def panel(index: int, spec: Panel, y: int, x: int, width: int, height: int) -> dict[str, Any]:
    title, unit, queries, kind = spec
    return {
        "id": index + 1,
        "type": kind,
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"h": height, "w": width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}} if kind == "timeseries" else {},
        "targets": [
            {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": chr(ord("A") + i)}
            for i, (expr, legend) in enumerate(queries)
        ],
    }


def dashboard(uid: str, title: str, specs: list[Panel]) -> dict[str, Any]:
    panels, x, y = [], 0, 0
    for index, spec in enumerate(specs):
        width, height = (6, 4) if spec[3] == "stat" else (12, 8)
        if x + width > 24:
            x, y = 0, y + (4 if width == 6 else 8)
        panels.append(panel(index, spec, y, x, width, height))
        x += width
        if index + 1 < len(specs) and specs[index + 1][3] != spec[3]:
            x, y = 0, y + height
    return {
        "uid": f"voltline-{uid}",
        "title": title,
        "tags": ["voltline"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": panels,
    }


def render() -> dict[str, str]:
    """File name → JSON text of every dashboard."""
    return {
        f"{uid}.json": json.dumps(dashboard(uid, title, specs), indent=2) + "\n"
        for uid, (title, specs) in DASHBOARDS.items()
    }


if __name__ == "__main__":
    for directory in (OUT, HELM_COPY):
        directory.mkdir(exist_ok=True)
        for name, text in render().items():
            (directory / name).write_text(text)
            print(f"wrote {directory / name}")

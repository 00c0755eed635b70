"""The gateway's Prometheus metrics, created once per process.

Label children are cached: `Counter.labels()` costs more than the increment, and it runs for every frame.
"""

from __future__ import annotations

from functools import cache

from prometheus_client import Counter, Gauge, Histogram
from voltline_chassis.metrics import counter, gauge, histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

MESSAGES = counter(
    "voltline_gateway_ocpp_messages_total",
    "OCPP messages by direction (in: calls from stations, out: our answers; command_out/command_in: our calls "
    "to stations and their answers)",
    ["direction", "action", "ocpp_version"],
)
CALL_ERRORS = counter("voltline_gateway_ocpp_call_errors_total", "CallErrors sent to stations", ["code", "action"])
CONNECTED = gauge("voltline_gateway_connected_stations", "Stations connected now", ["ocpp_version"])
CONNECTS = counter("voltline_gateway_connections_total", "WebSocket upgrades by outcome", ["outcome"])
DISCONNECTS = counter("voltline_gateway_disconnections_total", "Closed station connections by cause", ["cause"])
QUIRKS = counter("voltline_gateway_quirks_repaired_total", "Off-spec payloads accepted by leniency", ["quirk"])
DECISIONS = histogram(
    "voltline_gateway_decision_seconds",
    "Request/reply to the auth service, by request type and outcome (answered or timeout)",
    ["request", "outcome"],
    buckets=_LATENCY_BUCKETS,
)
PUBLISH = histogram(
    "voltline_gateway_publish_seconds",
    "Handing a station's event to Kafka, until the broker acknowledged it",
    ["outcome"],
    buckets=_LATENCY_BUCKETS,
)
COMMANDS = counter(
    "voltline_gateway_commands_total", "Commands to stations by action and outcome", ["action", "outcome"]
)
COMMAND_SECONDS = histogram(
    "voltline_gateway_command_seconds", "From a command's arrival to the station's answer", buckets=_LATENCY_BUCKETS
)
REGISTRY_SIZE = gauge("voltline_gateway_registry_stations", "Stations in the gateway's copy of the registry")
DECISION_TABLE_SIZE = gauge(
    "voltline_gateway_decision_table_tokens", "Token values in the gateway's copy of auth's published decisions"
)
FD_LIMIT = gauge("voltline_gateway_open_files_limit", "Open files this process may hold: one per station, plus ~100")
LIVE_GATEWAYS = gauge("voltline_gateway_live_instances", "Gateway instances this one sees alive")


@cache
def message(ocpp_version: str, action: str, direction: str) -> Counter:
    return MESSAGES.labels(direction=direction, action=action, ocpp_version=ocpp_version)


@cache
def call_error(code: str, action: str) -> Counter:
    return CALL_ERRORS.labels(code=code, action=action)


@cache
def quirk_repaired(quirk: str) -> Counter:
    return QUIRKS.labels(quirk=quirk)


@cache
def connected(ocpp_version: str) -> Gauge:
    return CONNECTED.labels(ocpp_version=ocpp_version)


@cache
def decision(request: str, outcome: str) -> Histogram:
    return DECISIONS.labels(request=request, outcome=outcome)


@cache
def publish(outcome: str) -> Histogram:
    return PUBLISH.labels(outcome=outcome)


# Flow control (ADR 0027)
FLOW_HOLD = gauge(
    "voltline_gateway_flow_hold_seconds", "How long answers to deferrable calls are held now (0: not throttling)"
)
FLOW_LAG = gauge(
    "voltline_gateway_flow_consumer_lag",
    "Largest lag (records) of a consumer group that counts for flow control; -1 when it could not be read",
)
FLOW_GROUP_LAG = gauge(
    "voltline_gateway_flow_group_lag",
    "Records behind the log end per consumer group, as flow control reads it",
    ["group"],
)
FLOW_HELD = counter("voltline_gateway_flow_held_total", "Answers held by flow control, by action", ["action"])
FLOW_HELD_SECONDS = counter("voltline_gateway_flow_held_seconds_total", "Seconds answers were held, summed")


@cache
def held(action: str) -> Counter:
    return FLOW_HELD.labels(action=action)

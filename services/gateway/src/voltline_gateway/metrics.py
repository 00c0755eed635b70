"""The gateway's Prometheus metrics, created once per process."""

from voltline_chassis.metrics import counter, gauge

MESSAGES = counter(
    "voltline_gateway_ocpp_messages_total", "OCPP calls by direction", ["direction", "action", "ocpp_version"]
)
CALL_ERRORS = counter("voltline_gateway_ocpp_call_errors_total", "CallErrors sent to stations", ["code", "action"])
CONNECTED = gauge("voltline_gateway_connected_stations", "Stations connected now", ["ocpp_version"])

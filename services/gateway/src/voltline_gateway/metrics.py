"""The gateway's Prometheus metrics, created once per process."""

from prometheus_client import Counter, Gauge

MESSAGES = Counter("voltline_gateway_ocpp_messages_total", "OCPP calls by direction", ["direction", "action", "ocpp_version"])
CALL_ERRORS = Counter("voltline_gateway_ocpp_call_errors_total", "CallErrors sent to stations", ["code", "action"])
CONNECTED = Gauge("voltline_gateway_connected_stations", "Stations connected now", ["ocpp_version"])

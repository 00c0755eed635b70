"""The routing table: every action a station may send, per protocol version, and who answers it.

To support a new action, add a module here with `async def handle(ctx, payload) -> dict` and a line in
ROUTES; the payload is validated against the official schema before the handler runs and the answer
after. Actions not listed are answered with a NotImplemented CallError.
"""

from __future__ import annotations

from functools import partial

from voltline_gateway.actions import boot_notification, heartbeat, notification
from voltline_gateway.actions.context import Handler
from voltline_gateway.domain.ocpp_j import OCPP16, OCPP21, OCPP201


def _notify(action: str) -> Handler:
    return partial(notification.handle, action=action)


_NOTIFICATIONS_16 = ("StatusNotification", "MeterValues", "DiagnosticsStatusNotification", "FirmwareStatusNotification")
_NOTIFICATIONS_2X = (
    "StatusNotification",
    "MeterValues",
    "NotifyEvent",
    "NotifyReport",
    "NotifyMonitoringReport",
    "LogStatusNotification",
    "FirmwareStatusNotification",
    "SecurityEventNotification",
    "NotifyChargingLimit",
    "ClearedChargingLimit",
    "ReportChargingProfiles",
    "NotifyDisplayMessages",
    "NotifyCustomerInformation",
    "PublishFirmwareStatusNotification",
)

ROUTES: dict[str, dict[str, Handler]] = {
    OCPP16: {
        "BootNotification": boot_notification.handle,
        "Heartbeat": heartbeat.handle,
        **{a: _notify(a) for a in _NOTIFICATIONS_16},
    },
    OCPP201: {
        "BootNotification": boot_notification.handle,
        "Heartbeat": heartbeat.handle,
        **{a: _notify(a) for a in _NOTIFICATIONS_2X},
    },
    OCPP21: {
        "BootNotification": boot_notification.handle,
        "Heartbeat": heartbeat.handle,
        **{a: _notify(a) for a in _NOTIFICATIONS_2X},
    },
}

"""The routing table: every action a station can send, per protocol version, and who answers it.

Each payload is validated against the official schema before its handler runs, and the answer after.
An action of the version that a station may not send (a CSMS-to-station action) is answered NotSupported,
an action the version does not define NotImplemented. What the CSMS can send is in `actions.outbound`.
To add an action, see docs/extending-gateway.md.
"""

from __future__ import annotations

from voltline_gateway.actions import (
    authorize,
    boot_notification,
    data_transfer,
    heartbeat,
    meter_values,
    start_transaction,
    status_notification,
    stop_transaction,
    transaction_event,
)
from voltline_gateway.actions.certificates import HANDLERS as CERTIFICATES
from voltline_gateway.actions.context import Handler
from voltline_gateway.actions.notification import answered_with, notify
from voltline_gateway.domain.ocpp_j import OCPP16, OCPP21, OCPP201

_NO_SERVICE = {"reasonCode": "NotSupported", "additionalInfo": "no such service in this CSMS"}

OCPP16_ROUTES: dict[str, Handler] = {
    "Authorize": authorize.handle,
    "BootNotification": boot_notification.handle,
    "DataTransfer": data_transfer.handle,
    "DiagnosticsStatusNotification": notify("DiagnosticsStatusNotification"),
    "FirmwareStatusNotification": notify("FirmwareStatusNotification"),
    "Heartbeat": heartbeat.handle,
    "MeterValues": meter_values.handle,
    "StartTransaction": start_transaction.handle,
    "StatusNotification": status_notification.handle,
    "StopTransaction": stop_transaction.handle,
    # Security extension (OCPP 1.6 security whitepaper)
    "LogStatusNotification": notify("LogStatusNotification"),
    "SecurityEventNotification": notify("SecurityEventNotification"),
    "SignCertificate": CERTIFICATES["SignCertificate"],
    "SignedFirmwareStatusNotification": notify("SignedFirmwareStatusNotification"),
}

OCPP201_ROUTES: dict[str, Handler] = {
    "Authorize": authorize.handle,
    "BootNotification": boot_notification.handle,
    "ClearedChargingLimit": notify("ClearedChargingLimit"),
    "DataTransfer": data_transfer.handle,
    "FirmwareStatusNotification": notify("FirmwareStatusNotification"),
    "Get15118EVCertificate": CERTIFICATES["Get15118EVCertificate"],
    "GetCertificateStatus": CERTIFICATES["GetCertificateStatus"],
    "Heartbeat": heartbeat.handle,
    "LogStatusNotification": notify("LogStatusNotification"),
    "MeterValues": meter_values.handle,
    "NotifyChargingLimit": notify("NotifyChargingLimit"),
    "NotifyCustomerInformation": notify("NotifyCustomerInformation"),
    "NotifyDisplayMessages": notify("NotifyDisplayMessages"),
    "NotifyEVChargingNeeds": answered_with("NotifyEVChargingNeeds", {"status": "Rejected", "statusInfo": _NO_SERVICE}),
    "NotifyEVChargingSchedule": answered_with("NotifyEVChargingSchedule", {"status": "Accepted"}),
    "NotifyEvent": notify("NotifyEvent"),
    "NotifyMonitoringReport": notify("NotifyMonitoringReport"),
    "NotifyReport": notify("NotifyReport"),
    "PublishFirmwareStatusNotification": notify("PublishFirmwareStatusNotification"),
    "ReportChargingProfiles": notify("ReportChargingProfiles"),
    "ReservationStatusUpdate": notify("ReservationStatusUpdate"),
    "SecurityEventNotification": notify("SecurityEventNotification"),
    "SignCertificate": CERTIFICATES["SignCertificate"],
    "StatusNotification": status_notification.handle,
    "TransactionEvent": transaction_event.handle,
}

OCPP21_ROUTES: dict[str, Handler] = {
    **OCPP201_ROUTES,
    "BatterySwap": notify("BatterySwap"),
    "ClosePeriodicEventStream": notify("ClosePeriodicEventStream"),
    "GetCertificateChainStatus": CERTIFICATES["GetCertificateChainStatus"],
    "NotifyDERAlarm": notify("NotifyDERAlarm"),
    "NotifyDERStartStop": notify("NotifyDERStartStop"),
    "NotifyEVChargingNeeds": answered_with(
        "NotifyEVChargingNeeds", {"status": "NoChargingProfile", "statusInfo": _NO_SERVICE}
    ),
    "NotifyPeriodicEventStream": notify("NotifyPeriodicEventStream"),  # a SEND: published, never answered
    "NotifyPriorityCharging": notify("NotifyPriorityCharging"),
    "NotifySettlement": notify("NotifySettlement"),
    "OpenPeriodicEventStream": answered_with("OpenPeriodicEventStream", {"status": "Accepted"}),
    "PullDynamicScheduleUpdate": answered_with(
        "PullDynamicScheduleUpdate", {"status": "Rejected", "statusInfo": _NO_SERVICE}
    ),
    "ReportDERControl": notify("ReportDERControl"),
    # No VAT validation service: the number is neither confirmed nor declared invalid, hence the reason code.
    "VatNumberValidation": answered_with(
        "VatNumberValidation",
        lambda p: {"vatNumber": p["vatNumber"], "status": "Rejected", "statusInfo": _NO_SERVICE},
    ),
}

ROUTES: dict[str, dict[str, Handler]] = {OCPP16: OCPP16_ROUTES, OCPP201: OCPP201_ROUTES, OCPP21: OCPP21_ROUTES}

"""All event payloads; importing this package registers every one of them."""

from voltline_events.payloads.answers import AuthorizeAnswered, BootAnswered
from voltline_events.payloads.auth import (
    BootDecision,
    BootDecisionRequested,
    StationCredentialsRequested,
    StationRegistered,
)
from voltline_events.payloads.authorization import AuthorizationDecision, AuthorizationRequested
from voltline_events.payloads.billing import (
    CdrCreated,
    RefundIssued,
    SessionCostUpdated,
    TariffAssigned,
    TariffChanged,
)
from voltline_events.payloads.commands import StationCommand, StationCommandResult
from voltline_events.payloads.diagnostics import (
    AlertOpened,
    AlertResolved,
    ConnectorStatusChange,
    ConnectorStatusChanged,
    ConnectorStatusesChanged,
    StationHealthChanged,
    UptimeExclusionDeclared,
)
from voltline_events.payloads.notifications import (
    AuthorizeRequested,
    DataTransfer,
    DeviceEvents,
    DeviceReport,
    FirmwareStatus,
    LogStatus,
    SecurityEvent,
)
from voltline_events.payloads.refusals import TransactionRefused
from voltline_events.payloads.sessions import SessionEnded, SessionStarted, SessionUpdated
from voltline_events.payloads.station import (
    BootNotification,
    Heartbeat,
    StationConnected,
    StationDisconnected,
    StationMessage,
)
from voltline_events.payloads.token_decisions import TokenDecisions
from voltline_events.payloads.transactions import (
    ConnectorStatus,
    IdToken,
    MeterSample,
    SampledValue,
    StationTransaction,
)

__all__ = [
    "AlertOpened",
    "AlertResolved",
    "AuthorizationDecision",
    "AuthorizationRequested",
    "AuthorizeAnswered",
    "AuthorizeRequested",
    "BootAnswered",
    "BootDecision",
    "BootDecisionRequested",
    "BootNotification",
    "CdrCreated",
    "ConnectorStatus",
    "ConnectorStatusChange",
    "ConnectorStatusChanged",
    "ConnectorStatusesChanged",
    "DataTransfer",
    "DeviceEvents",
    "DeviceReport",
    "FirmwareStatus",
    "Heartbeat",
    "IdToken",
    "LogStatus",
    "MeterSample",
    "RefundIssued",
    "SampledValue",
    "SecurityEvent",
    "SessionCostUpdated",
    "SessionEnded",
    "SessionStarted",
    "SessionUpdated",
    "StationCommand",
    "StationCommandResult",
    "StationConnected",
    "StationCredentialsRequested",
    "StationDisconnected",
    "StationHealthChanged",
    "StationMessage",
    "StationRegistered",
    "StationTransaction",
    "TariffAssigned",
    "TariffChanged",
    "TokenDecisions",
    "TransactionRefused",
    "UptimeExclusionDeclared",
]

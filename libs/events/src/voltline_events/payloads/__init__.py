"""All event payloads; importing this package registers every one of them."""

from voltline_events.payloads.auth import (
    BootDecision,
    BootDecisionRequested,
    StationCredentialsRequested,
    StationRegistered,
)
from voltline_events.payloads.authorization import AuthorizationDecision, AuthorizationRequested
from voltline_events.payloads.billing import CdrCreated
from voltline_events.payloads.commands import StationCommand, StationCommandResult
from voltline_events.payloads.sessions import SessionEnded, SessionStarted, SessionUpdated
from voltline_events.payloads.station import (
    BootNotification,
    Heartbeat,
    StationConnected,
    StationDisconnected,
    StationMessage,
)
from voltline_events.payloads.transactions import (
    ConnectorStatus,
    IdToken,
    MeterSample,
    SampledValue,
    StationTransaction,
)

__all__ = [
    "AuthorizationDecision",
    "AuthorizationRequested",
    "BootDecision",
    "BootDecisionRequested",
    "BootNotification",
    "CdrCreated",
    "ConnectorStatus",
    "Heartbeat",
    "IdToken",
    "MeterSample",
    "SampledValue",
    "SessionEnded",
    "SessionStarted",
    "SessionUpdated",
    "StationCommand",
    "StationCommandResult",
    "StationConnected",
    "StationCredentialsRequested",
    "StationDisconnected",
    "StationMessage",
    "StationRegistered",
    "StationTransaction",
]

"""All event payloads; importing this package registers every one of them."""

from voltline_events.payloads.auth import BootDecision, BootDecisionRequested, StationRegistered
from voltline_events.payloads.station import (
    BootNotification,
    Heartbeat,
    StationConnected,
    StationDisconnected,
    StationMessage,
)

__all__ = [
    "BootDecision",
    "BootDecisionRequested",
    "BootNotification",
    "Heartbeat",
    "StationConnected",
    "StationDisconnected",
    "StationMessage",
    "StationRegistered",
]

"""Alert rules and the alert lifecycle (pure).

Every rule can be switched off, given a severity and (where it has one) a threshold, through the setting
VOLTLINE_ALERT_RULES (JSON, e.g. `{"station_offline": {"after_s": 600, "severity": "critical"}}`).
An alert targets a station, or one EVSE/connector of it, plus a `subject` for rules that can fire for
several things at once (a device-model component, a security event type); there is at most one open
(open or acknowledged) alert per rule and target. Lifecycle: open → acknowledged (who, when) → resolved
(when the condition clears, or by hand with a note); resolved alerts stay as history.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

Severity = Literal["info", "warning", "major", "critical"]
AlertStatus = Literal["open", "acknowledged", "resolved"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "major", "critical")

FIRMWARE_FAILURES = frozenset(
    {"DownloadFailed", "InstallationFailed", "InvalidSignature", "InstallVerificationFailed", "SignatureError"}
)
FIRMWARE_DONE = frozenset({"Installed", "Idle"})
LOG_FAILURES = frozenset({"UploadFailed", "BadMessage", "PermissionDenied", "NotSupportedOperation"})
LOG_DONE = frozenset({"Uploaded", "Idle"})


@dataclass(frozen=True)
class Rule:
    name: str
    severity: Severity
    enabled: bool = True
    after_s: float = 0.0
    count: int = 0
    window_s: float = 0.0
    min_kwh: float = 0.0
    doc: str = ""


DEFAULT_RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule(
            "connector_faulted", "critical", doc="A connector reports Faulted; resolved when it reports anything else."
        ),
        Rule(
            "station_offline", "major", after_s=300, doc="Disconnected for longer than after_s; resolved on reconnect."
        ),
        Rule(
            "station_unresponsive",
            "major",
            doc="Connected but silent for longer than max(2 x heartbeat interval, a minimum); resolved when heard.",
        ),
        Rule(
            "boot_loop",
            "major",
            count=3,
            window_s=600,
            doc="count boots within window_s; resolved when a whole window passes without a boot.",
        ),
        Rule(
            "connector_not_charging",
            "major",
            count=3,
            min_kwh=0.1,
            doc="count consecutive sessions under min_kwh on one connector; resolved by a session that delivers.",
        ),
        Rule(
            "authorized_not_started",
            "major",
            count=3,
            after_s=120,
            doc="count accepted authorisations in a row at a station that did not become a transaction within "
            "after_s (the connector looks Available but nobody can charge); resolved when a transaction starts.",
        ),
        Rule(
            "session_stuck",
            "major",
            after_s=1800,
            doc="A session charging with no energy growth for after_s; resolved by progress or its end.",
        ),
        Rule("security_event", "warning", doc="A security event reported by the station; resolved by hand."),
        Rule(
            "device_problem",
            "major",
            doc="2.x NotifyEvent: an Alerting event (a component's Problem/fault variable); resolved when cleared.",
        ),
        Rule("firmware_failed", "major", doc="A firmware update failed; resolved by a later successful install."),
        Rule("log_upload_failed", "warning", doc="A log/diagnostics upload failed; resolved by a later upload."),
    )
}


def configure(overrides: dict[str, dict[str, Any]]) -> dict[str, Rule]:
    """The default rules with the operator's overrides; unknown rules or fields are refused with their name."""
    rules = dict(DEFAULT_RULES)
    for name, fields in overrides.items():
        if name not in rules:
            raise ValueError(f"unknown alert rule {name!r}; known: {', '.join(sorted(rules))}")
        unknown = set(fields) - {"enabled", "severity", "after_s", "count", "window_s", "min_kwh"}
        if unknown:
            raise ValueError(f"alert rule {name!r}: unknown field(s) {', '.join(sorted(unknown))}")
        if "severity" in fields and fields["severity"] not in SEVERITIES:
            raise ValueError(f"alert rule {name!r}: severity must be one of {', '.join(SEVERITIES)}")
        rules[name] = replace(rules[name], **fields)
    return rules


@dataclass(frozen=True)
class Target:
    station_id: str
    evse_id: int | None = None
    connector_id: int | None = None
    subject: str | None = None

    def key(self, rule: str) -> str:
        """What makes an alert unique while it is open."""
        parts = [rule, self.station_id, str(self.evse_id), str(self.connector_id), self.subject or ""]
        return "|".join(parts)


@dataclass(frozen=True)
class Alert:
    alert_id: str
    rule: str
    severity: Severity
    target: Target
    status: AlertStatus
    opened_at: datetime
    detail: dict[str, Any] = field(default_factory=dict)
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    note: str | None = None

    def acknowledge(self, by: str, at: datetime, note: str | None = None) -> Alert:
        if self.status != "open":
            raise AlertStateError(f"alert {self.alert_id} is {self.status}; only an open alert can be acknowledged")
        return replace(self, status="acknowledged", acknowledged_at=at, acknowledged_by=by, note=note or self.note)

    def resolve(self, at: datetime, by: str | None = None, note: str | None = None) -> Alert:
        if self.status == "resolved":
            raise AlertStateError(f"alert {self.alert_id} is resolved already")
        return replace(self, status="resolved", resolved_at=at, resolved_by=by, note=note or self.note)


class AlertStateError(ValueError):
    """A lifecycle step that the alert's status does not allow."""


def boot_loop(boots: list[datetime], rule: Rule) -> bool:
    """Enough boots within one window (boots sorted, newest last)."""
    if rule.count <= 0 or len(boots) < rule.count:
        return False
    recent = boots[-rule.count :]
    return (recent[-1] - recent[0]).total_seconds() <= rule.window_s


def authorization_unused(authorized_at: datetime | None, now: datetime, rule: Rule) -> bool:
    """An accepted authorisation that no transaction followed within the rule's `after_s`."""
    return authorized_at is not None and (now - authorized_at).total_seconds() > rule.after_s

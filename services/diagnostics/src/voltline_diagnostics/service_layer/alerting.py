"""Opening, acknowledging and resolving alerts inside a unit of work: each step also publishes its event
(diagnostics.alert_opened / alert_resolved, through the outbox) and queues the matching webhook deliveries."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import uuid4

from voltline_chassis.metrics import counter
from voltline_events import Event, envelope_for, station_key
from voltline_events.payloads import AlertOpened, AlertResolved

from voltline_diagnostics.domain.alerts import Alert, Target
from voltline_diagnostics.domain.webhooks import Filter
from voltline_diagnostics.service_layer.context import HealthContext
from voltline_diagnostics.service_layer.unit_of_work import DiagnosticsUnitOfWork

ALERTS_OPENED = counter("voltline_diagnostics_alerts_opened_total", "Alerts opened", ["rule", "severity"])
ALERTS_RESOLVED = counter("voltline_diagnostics_alerts_resolved_total", "Alerts resolved", ["rule", "how"])


def alert_json(alert: Alert) -> dict[str, Any]:
    """The public shape of an alert (API, webhooks, stream)."""
    t = alert.target
    return {
        "alert_id": alert.alert_id,
        "station_id": t.station_id,
        "evse_id": t.evse_id,
        "connector_id": t.connector_id,
        "subject": t.subject,
        "rule": alert.rule,
        "severity": alert.severity,
        "status": alert.status,
        "opened_at": _iso(alert.opened_at),
        "acknowledged_at": _iso(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by,
        "resolved_at": _iso(alert.resolved_at),
        "resolved_by": alert.resolved_by,
        "note": alert.note,
        "detail": alert.detail,
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at else None


def publish(ctx: HealthContext, uow: DiagnosticsUnitOfWork, event: Event, station_id: str) -> None:
    envelope = envelope_for(event, source=ctx.source, station_id=station_id)
    uow.outbox.add(ctx.topics.diagnostics, envelope, key=station_key(station_id))


async def notify(ctx: HealthContext, uow: DiagnosticsUnitOfWork, event_type: str, alert: Alert, now: datetime) -> int:
    """Queue a delivery for every active webhook whose filter matches; the delivery worker sends them."""
    queued = 0
    body = json.dumps({"type": event_type, "sent_at": _iso(now), "alert": alert_json(alert)}, sort_keys=True)
    for hook in await uow.webhooks.all(active_only=True):
        wanted = Filter(frozenset(hook["rules"]), frozenset(hook["severities"]), frozenset(hook["station_ids"]))
        if not wanted.matches(alert.rule, alert.severity, alert.target.station_id):
            continue
        await uow.webhooks.enqueue(
            delivery_id=str(uuid4()),
            webhook_id=hook["webhook_id"],
            event_type=event_type,
            alert_id=alert.alert_id,
            body=body,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        queued += 1
    if queued:  # after the commit: woken before it, the worker would find nothing and sleep a whole poll
        uow.after_commit(ctx.wake_deliveries)
    return queued


async def open_alert(
    ctx: HealthContext,
    uow: DiagnosticsUnitOfWork,
    rule_name: str,
    target: Target,
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> Alert | None:
    """Open an alert unless the rule is off or one is open for this rule and target (then its detail is
    refreshed and its `occurrences` counted)."""
    rule = ctx.rules[rule_name]
    if not rule.enabled:
        return None
    existing = await uow.alerts.open_for(rule_name, target)
    if existing is not None:
        merged = {**existing.detail, **(detail or {}), "occurrences": int(existing.detail.get("occurrences", 1)) + 1}
        await uow.alerts.save(Alert(**{**existing.__dict__, "detail": merged}))
        return None
    alert = Alert(str(uuid4()), rule_name, rule.severity, target, "open", at, {**(detail or {}), "occurrences": 1})
    await uow.alerts.add(alert)
    publish(
        ctx,
        uow,
        AlertOpened(
            alert_id=alert.alert_id,
            rule=rule_name,
            severity=rule.severity,
            evse_id=target.evse_id,
            connector_id=target.connector_id,
            opened_at=at,
            detail=alert.detail,
        ),
        target.station_id,
    )
    await notify(ctx, uow, "diagnostics.alert_opened", alert, ctx.clock())
    ALERTS_OPENED.labels(rule_name, rule.severity).inc()
    return alert


async def resolve(
    ctx: HealthContext,
    uow: DiagnosticsUnitOfWork,
    alert: Alert,
    at: datetime,
    *,
    by: str | None = None,
    note: str | None = None,
) -> Alert:
    resolved = alert.resolve(at, by, note)
    await uow.alerts.save(resolved)
    publish(
        ctx,
        uow,
        AlertResolved(
            alert_id=alert.alert_id,
            rule=alert.rule,
            severity=alert.severity,
            evse_id=alert.target.evse_id,
            connector_id=alert.target.connector_id,
            opened_at=alert.opened_at,
            resolved_at=at,
            by=by,
            note=note,
        ),
        alert.target.station_id,
    )
    await notify(ctx, uow, "diagnostics.alert_resolved", resolved, ctx.clock())
    ALERTS_RESOLVED.labels(alert.rule, "manual" if by else "auto").inc()
    return resolved


async def clear(ctx: HealthContext, uow: DiagnosticsUnitOfWork, rule_name: str, target: Target, at: datetime) -> None:
    """The rule's condition is over for this target: resolve its open alert, if any."""
    existing = await uow.alerts.open_for(rule_name, target)
    if existing is not None:
        await resolve(ctx, uow, existing, at)

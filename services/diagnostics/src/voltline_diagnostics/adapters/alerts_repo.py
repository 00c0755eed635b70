"""Alerts and their history (alerts table)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voltline_diagnostics.adapters.health_tables import alerts
from voltline_diagnostics.domain.alerts import Alert, Target


def search_query(
    *,
    station_id: str | None = None,
    status: str | None = None,
    rule: str | None = None,
    severity: str | None = None,
    since: datetime | None = None,
    limit: int = 500,
) -> Select[Any]:
    """Alerts, newest first, filtered (a statement: the API runs it outside any unit of work)."""
    query = select(alerts)
    if station_id is not None:
        query = query.where(alerts.c.station_id == station_id)
    if status is not None:
        query = query.where(alerts.c.status == status)
    if rule is not None:
        query = query.where(alerts.c.rule == rule)
    if severity is not None:
        query = query.where(alerts.c.severity == severity)
    if since is not None:
        query = query.where(alerts.c.opened_at >= since)
    return query.order_by(alerts.c.opened_at.desc()).limit(limit)


def alert_from_row(row: Any) -> Alert:
    m = row._mapping
    return Alert(
        alert_id=m["alert_id"],
        rule=m["rule"],
        severity=m["severity"],
        target=Target(m["station_id"], m["evse_id"], m["connector_id"], m["subject"]),
        status=m["status"],
        opened_at=m["opened_at"],
        detail=m["detail"] or {},
        acknowledged_at=m["acknowledged_at"],
        acknowledged_by=m["acknowledged_by"],
        resolved_at=m["resolved_at"],
        resolved_by=m["resolved_by"],
        note=m["note"],
    )


class AlertRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def open_for(self, rule: str, target: Target) -> Alert | None:
        row = (await self.session.execute(select(alerts).where(alerts.c.open_key == target.key(rule)))).first()
        return alert_from_row(row) if row else None

    async def open_of_station(self, station_id: str, rules: tuple[str, ...]) -> list[Alert]:
        rows = await self.session.execute(
            select(alerts).where(
                alerts.c.station_id == station_id, alerts.c.status != "resolved", alerts.c.rule.in_(rules)
            )
        )
        return [alert_from_row(r) for r in rows]

    async def open_of_rule(self, rule: str) -> list[Alert]:
        rows = await self.session.execute(select(alerts).where(alerts.c.rule == rule, alerts.c.status != "resolved"))
        return [alert_from_row(r) for r in rows]

    async def get(self, alert_id: str) -> Alert | None:
        row = (await self.session.execute(select(alerts).where(alerts.c.alert_id == alert_id))).first()
        return alert_from_row(row) if row else None

    async def add(self, alert: Alert) -> None:
        t = alert.target
        await self.session.execute(
            insert(alerts).values(
                alert_id=alert.alert_id,
                open_key=t.key(alert.rule),
                rule=alert.rule,
                severity=alert.severity,
                station_id=t.station_id,
                evse_id=t.evse_id,
                connector_id=t.connector_id,
                subject=t.subject,
                status=alert.status,
                opened_at=alert.opened_at,
                detail=alert.detail,
            )
        )

    async def save(self, alert: Alert) -> None:
        await self.session.execute(
            update(alerts)
            .where(alerts.c.alert_id == alert.alert_id)
            .values(
                open_key=None if alert.status == "resolved" else alert.target.key(alert.rule),
                status=alert.status,
                detail=alert.detail,
                acknowledged_at=alert.acknowledged_at,
                acknowledged_by=alert.acknowledged_by,
                resolved_at=alert.resolved_at,
                resolved_by=alert.resolved_by,
                note=alert.note,
            )
        )

    async def open_counts(self) -> dict[tuple[str, str], int]:
        rows = await self.session.execute(
            select(alerts.c.rule, alerts.c.severity, func.count())
            .where(alerts.c.status != "resolved")
            .group_by(alerts.c.rule, alerts.c.severity)
        )
        return {(r, s): n for r, s, n in rows}

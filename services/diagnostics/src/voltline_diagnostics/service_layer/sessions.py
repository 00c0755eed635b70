"""Sessions as the session service reports them: a connector that does not charge (`connector_not_charging`,
N short sessions in a row) and a session stuck charging without meter progress (`session_stuck`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from voltline_events.payloads import SessionEnded, SessionStarted, SessionUpdated

from voltline_diagnostics.domain.alerts import Target
from voltline_diagnostics.service_layer import alerting
from voltline_diagnostics.service_layer.context import CONSUMER, HealthContext
from voltline_diagnostics.service_layer.unit_of_work import DiagnosticsUnitOfWork


def _target(station_id: str, evse_id: int | None, connector_id: int | None, session_id: str) -> Target:
    return Target(station_id, evse_id, connector_id, session_id)


async def record_session_start(
    ctx: HealthContext, station_id: str, event_id: UUID, at: datetime, started: SessionStarted
) -> None:
    async with ctx.uow() as uow:
        if not await uow.inbox.first_time(CONSUMER, event_id):
            return
        if await uow.progress.get(started.session_id) is None:
            await uow.progress.add(
                session_id=started.session_id,
                station_id=station_id,
                evse_id=started.evse_id,
                connector_id=started.connector_id,
                energy_wh=0,
                charging_state=None,
                progress_at=at,
            )
        await uow.commit()


async def record_session_update(
    ctx: HealthContext, station_id: str, event_id: UUID, at: datetime, updated: SessionUpdated
) -> None:
    async with ctx.uow() as uow:
        if not await uow.inbox.first_time(CONSUMER, event_id):
            return
        row = await uow.progress.get(updated.session_id)
        if row is None:  # its start went by before this service listened: follow it from now
            await uow.progress.add(
                session_id=updated.session_id,
                station_id=station_id,
                energy_wh=updated.energy_wh,
                charging_state=updated.charging_state,
                progress_at=at,
            )
        elif updated.energy_wh > row["energy_wh"] or updated.charging_state != "charging":
            await uow.progress.save(
                updated.session_id, energy_wh=updated.energy_wh, charging_state=updated.charging_state, progress_at=at
            )
            target = _target(station_id, row["evse_id"], row["connector_id"], updated.session_id)
            await alerting.clear(ctx, uow, "session_stuck", target, at)
        else:
            await uow.progress.save(updated.session_id, charging_state=updated.charging_state)
        await uow.commit()


async def record_session_end(
    ctx: HealthContext, station_id: str, event_id: UUID, at: datetime, ended: SessionEnded
) -> None:
    async with ctx.uow() as uow:
        if not await uow.inbox.first_time(CONSUMER, event_id):
            return
        await uow.progress.remove(ended.session_id)
        await alerting.clear(
            ctx, uow, "session_stuck", _target(station_id, ended.evse_id, ended.connector_id, ended.session_id), at
        )
        await _count_short(ctx, uow, station_id, at, ended)
        await uow.commit()


async def _count_short(
    ctx: HealthContext, uow: DiagnosticsUnitOfWork, station_id: str, at: datetime, ended: SessionEnded
) -> None:
    rule = ctx.rules["connector_not_charging"]
    evse_id = ended.evse_id if ended.evse_id is not None else ended.connector_id
    if evse_id is None:
        return
    connector_id = ended.connector_id if ended.connector_id is not None else evse_id
    row = await uow.status.connector(station_id, evse_id, connector_id)
    if row is None:
        return
    target = Target(station_id, evse_id, connector_id)
    if ended.energy_wh < rule.min_kwh * 1000:
        row.short_sessions += 1
        if row.short_sessions >= rule.count:
            detail = {"sessions_in_a_row": row.short_sessions, "last_session_id": ended.session_id}
            await alerting.open_alert(ctx, uow, "connector_not_charging", target, at, detail)
    else:
        row.short_sessions = 0
        await alerting.clear(ctx, uow, "connector_not_charging", target, at)
    await uow.status.save_connector(row, new=False)


async def check_stuck(ctx: HealthContext, uow: DiagnosticsUnitOfWork, now: datetime) -> None:
    """Called by the monitor: charging sessions whose energy has not grown for the rule's after_s."""
    rule = ctx.rules["session_stuck"]
    if not rule.enabled:
        return
    for row in await uow.progress.charging_without_progress_since(now - timedelta(seconds=rule.after_s)):
        target = _target(row["station_id"], row["evse_id"], row["connector_id"], row["session_id"])
        detail = {
            "session_id": row["session_id"],
            "energy_wh": row["energy_wh"],
            "since": row["progress_at"].isoformat(),
        }
        await alerting.open_alert(ctx, uow, "session_stuck", target, now, detail)

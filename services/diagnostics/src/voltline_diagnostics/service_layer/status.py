"""Applying the gateway's station events to live status and history.

Each handler is one unit of work; inside the consumer's batch they share one transaction and the status
rows live in the batch's memory until its commit (adapters/status_batch.py).

Times are the gateway's (the envelope's `time`: when the frame arrived), never the station's clock, so the
history that uptime is computed from is on one clock. Every handler records the event in the inbox first
(a redelivery changes nothing).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from voltline_chassis.metrics import counter
from voltline_events.payloads import (
    BootNotification,
    ConnectorStatus,
    StationHealthChanged,
    StationTransaction,
)

from voltline_diagnostics.domain.alerts import Target, boot_loop
from voltline_diagnostics.domain.registration import Registration
from voltline_diagnostics.domain.status import STATION_WIDE, error_code, heard_within, newest, normalise, shown_status
from voltline_diagnostics.service_layer import alerting
from voltline_diagnostics.service_layer.context import CONSUMER, HealthContext
from voltline_diagnostics.service_layer.ports import ConnectorRow, StationRow
from voltline_diagnostics.service_layer.unit_of_work import DiagnosticsUnitOfWork

STATUS_CHANGES = counter("voltline_diagnostics_status_changes_total", "Connector status changes", ["status"])
_CHANGES_BY_STATUS: dict[str, Any] = {}  # the counter's child per status: `labels()` costs more than `inc()`
HEALTH_CHANGES = counter("voltline_diagnostics_station_health_changes_total", "Station health changes", ["health"])


async def station_for(
    ctx: HealthContext, uow: DiagnosticsUnitOfWork, station_id: str, at: datetime, ocpp_version: str | None
) -> tuple[StationRow, bool]:
    """The station's row, created online (a message is a sign of a connection) if it is new."""
    station = await uow.status.station(station_id)
    if station is not None:
        return station, False
    station = StationRow(
        station_id, online=True, since=at, last_seen_at=at, ocpp_version=ocpp_version, presence_at=at
    )  # the link as of its first message: a disconnect stamped before it is an older link's
    await uow.status.open_presence_interval(station_id, True, at)
    return station, True


AUTHORIZED_NOT_STARTED = "authorized_not_started"
LAST_SEEN_GRANULARITY = timedelta(seconds=1)
"""`last_seen_at` is written when it moves by at least this much: silence is judged in minutes, and a busy
station's every message would otherwise rewrite its row."""


async def heard(ctx: HealthContext, uow: DiagnosticsUnitOfWork, station: StationRow, at: datetime) -> bool:
    """A message arrived: the station is alive (and no longer unresponsive, if it was). True when the
    station's row changed and must be saved."""
    dirty = at - station.last_seen_at >= LAST_SEEN_GRANULARITY
    station.last_seen_at = max(station.last_seen_at, at)
    limit = ctx.silence.limit(station.heartbeat_interval_s, ctx.default_heartbeat_s)
    ctx.silence_watch.heard(station.station_id, station.last_seen_at + limit)
    if not station.unresponsive:
        return dirty
    if not heard_within(at, ctx.clock(), limit):  # older than the silence that marked it (ADR 0038, amended)
        return dirty
    marked = station.unresponsive_since
    ended = at if marked is None else max(at, marked)  # one stamped before the mark ends it at the mark
    station.unresponsive, station.unresponsive_since = False, None
    alerting.publish(ctx, uow, StationHealthChanged(health="online", since=ended), station.station_id)
    HEALTH_CHANGES.labels("online").inc()
    await alerting.clear(ctx, uow, "station_unresponsive", Target(station.station_id), ended)
    return True


def registration(station: StationRow) -> Registration:
    return Registration(
        station.last_boot_at,
        station.boot_status,
        station.boot_answered_at,
        station.heartbeat_interval_s,
        station.heartbeat_interval_at,
    )


def register(station: StationRow, held: Registration) -> None:
    """The station's boot answers as `held` says (domain/registration.py)."""
    station.last_boot_at, station.boot_status, station.boot_answered_at = (
        held.last_boot_at,
        held.status,
        held.answered_at,
    )
    station.heartbeat_interval_s, station.heartbeat_interval_at = held.heartbeat_interval_s, held.interval_at


async def _publish_connectors(
    ctx: HealthContext, uow: DiagnosticsUnitOfWork, station_id: str, online: bool, at: datetime
) -> None:
    for c in await uow.status.connectors_of(station_id):
        status = shown_status(c.status, online)  # type: ignore[arg-type]  # the store holds only Status values
        since = at if not online else c.since
        status_changed(ctx, uow, station_id, c.evse_id, c.connector_id, status, c.ocpp_status, c.error_code, since)


def status_changed(
    ctx: HealthContext,
    uow: DiagnosticsUnitOfWork,
    station_id: str,
    evse_id: int,
    connector_id: int,
    status: str,
    ocpp_status: str | None,
    error_code: str | None,
    since: datetime,
) -> None:
    """Publish a connector's change (`uow.status_changes`: inside a consumer batch grouped with the batch's other
    changes of its partition, alone as an event of its own)."""
    change: dict[str, Any] = {"station_id": station_id, "evse_id": evse_id, "connector_id": connector_id}
    change["status"] = status
    if ocpp_status is not None:
        change["ocpp_status"] = ocpp_status
    if error_code is not None:
        change["error_code"] = error_code
    change["since"] = since.isoformat().replace("+00:00", "Z")  # as pydantic writes it, without its inference
    uow.status_changes(ctx.source).add_status_change(ctx.topics.diagnostics, station_id, change)


async def record_presence(
    ctx: HealthContext, station_id: str, event_id: UUID, at: datetime, *, connected: bool, ocpp_version: str | None
) -> None:
    async with ctx.uow() as uow:
        if not await uow.inbox.first_time(CONSUMER, event_id):
            return
        station, new = await station_for(ctx, uow, station_id, at, ocpp_version)
        if not newest(at, station.presence_at):  # older than the link it shows: read late (ADR 0038)
            if station.ocpp_version is None and ocpp_version is not None:
                station.ocpp_version = ocpp_version
                await uow.status.save_station(station, ctx.clock(), new=False)
            await uow.commit()
            return
        station.presence_at = at
        changed = station.online != connected
        if connected:
            station.ocpp_version = ocpp_version or station.ocpp_version
            await heard(ctx, uow, station, at)
        if changed and not new:
            station.online, station.since = connected, at
            station.unresponsive, station.unresponsive_since = False, None
            await uow.status.open_presence_interval(station_id, connected, at)
            alerting.publish(
                ctx, uow, StationHealthChanged(health="online" if connected else "offline", since=at), station_id
            )
            HEALTH_CHANGES.labels("online" if connected else "offline").inc()
            await _publish_connectors(ctx, uow, station_id, connected, at)
            if connected:
                await alerting.clear(ctx, uow, "station_offline", Target(station_id), at)
            else:
                ctx.silence_watch.forget(station_id)
                await alerting.clear(ctx, uow, "station_unresponsive", Target(station_id), at)
        elif new and not connected:
            station.online, station.since = False, at
            await uow.status.open_presence_interval(station_id, False, at)
        await uow.status.save_station(station, ctx.clock(), new=new)
        await uow.commit()


async def record_heard(
    ctx: HealthContext, station_id: str, event_id: UUID, at: datetime, ocpp_version: str | None
) -> None:
    """Any other station event: a sign of life."""
    async with ctx.uow() as uow:
        if not await uow.inbox.first_time(CONSUMER, event_id):
            return
        station, new = await station_for(ctx, uow, station_id, at, ocpp_version)
        if await heard(ctx, uow, station, at) or new:
            await uow.status.save_station(station, ctx.clock(), new=new)
        await uow.commit()


async def record_boot(
    ctx: HealthContext, station_id: str, event_id: UUID, at: datetime, boot: BootNotification
) -> None:
    async with ctx.uow() as uow:
        if not await uow.inbox.first_time(CONSUMER, event_id):
            return
        station, new = await station_for(ctx, uow, station_id, at, boot.ocpp_version)
        await heard(ctx, uow, station, at)
        raw = boot.raw.get("chargingStation", boot.raw)
        modem = raw.get("modem") or {
            k: boot.raw[k] for k in ("iccid", "imsi") if boot.raw.get(k) is not None
        }  # 2.x nests it; 1.6 flat
        meter = {k: boot.raw[k] for k in ("meterType", "meterSerialNumber") if boot.raw.get(k) is not None}
        if newest(at, station.last_boot_at):  # else an older boot read late: counted, the inventory kept
            register(station, registration(station).booted(at))  # its status: None until its answer is read
            station = replace(
                station,
                ocpp_version=boot.ocpp_version,
                boot_reason=boot.reason,
                vendor=boot.vendor,
                model=boot.model,
                serial_number=boot.serial_number,
                firmware_version=boot.firmware_version,
                modem=modem or None,
                meter=meter or None,
            )
        await uow.status.add_boot(station_id, at, boot.reason)
        rule = ctx.rules["boot_loop"]
        from_ = at - timedelta(seconds=rule.window_s)
        boots = await uow.status.boots_since(station_id, from_)
        if boot_loop(boots, rule):
            detail = {"boots": len(boots), "window_s": rule.window_s, "last_reason": boot.reason}
            await alerting.open_alert(ctx, uow, "boot_loop", Target(station_id), at, detail)
        await uow.status.save_station(station, ctx.clock(), new=new)
        await uow.commit()


async def record_status(
    ctx: HealthContext, station_id: str, event_id: UUID, at: datetime, report: ConnectorStatus
) -> None:
    """A StatusNotification: the port's live status, its history interval when it changed, and the
    connector_faulted alert (opened on Faulted, resolved on anything else)."""
    async with ctx.uow() as uow:
        if not await uow.inbox.first_time(CONSUMER, event_id):
            return
        station, new_station = await station_for(ctx, uow, station_id, at, report.ocpp_version)
        station_changed = await heard(ctx, uow, station, at) or new_station
        evse_id = report.evse_id if report.evse_id is not None else report.connector_id
        connector_id = report.connector_id if evse_id != STATION_WIDE else STATION_WIDE
        before = await uow.status.connector(station_id, evse_id, connector_id)
        if before is None or newest(at, _reported_at(ctx, before)):  # else older than the port's, read late
            await _apply(ctx, uow, station, before, evse_id, connector_id, at, report)
        if station_changed:
            await uow.status.save_station(station, ctx.clock(), new=new_station)
        await uow.commit()


def _reported_at(ctx: HealthContext, port: ConnectorRow) -> datetime:
    """The port's newest report: its row's, or a newer repeat of it answered from memory (service_layer/heard.py),
    which leaves the row's `reported_at` as it was."""
    repeated = ctx.heard.newest_report(port.station_id, (port.evse_id, port.connector_id)) if ctx.heard else None
    return port.reported_at if repeated is None else max(port.reported_at, repeated)


async def transaction_seen(ctx: HealthContext, uow: DiagnosticsUnitOfWork, station: StationRow, at: datetime) -> bool:
    """A transaction event: the pending authorisation became a transaction, the count starts again and the
    alert (if any) resolves. True when the station changed."""
    if station.authorized_at is None and not station.unused_authorizations:
        return False
    if station.authorized_at is not None and at < station.authorized_at:
        return False  # an older transaction's event, delivered late: not this authorisation's
    had_unused = station.unused_authorizations > 0
    station.authorized_at, station.unused_authorizations = None, 0
    if had_unused:  # an alert can only be open once some went unused
        await alerting.clear(ctx, uow, AUTHORIZED_NOT_STARTED, Target(station.station_id), at)
    return True


OCCUPYING_STATES = frozenset({"EVConnected", "Charging", "SuspendedEV", "SuspendedEVSE"})


async def record_transaction(
    ctx: HealthContext, station_id: str, event_id: UUID, at: datetime, tx: StationTransaction
) -> None:
    """A sign of life; for 2.x, a transaction with a vehicle at a connector that still reads Available makes it
    Occupied (the station's StatusNotification may come later, or not at all from some firmware)."""
    async with ctx.uow() as uow:
        if not await uow.inbox.first_time(CONSUMER, event_id):
            return
        station, new_station = await station_for(ctx, uow, station_id, at, tx.ocpp_version)
        station_changed = await heard(ctx, uow, station, at) or new_station
        station_changed = await transaction_seen(ctx, uow, station, at) or station_changed
        if (
            tx.ocpp_version != "ocpp1.6"
            and tx.kind != "ended"
            and tx.evse_id is not None
            and tx.connector_id is not None
            and tx.charging_state in OCCUPYING_STATES
        ):
            before = await uow.status.connector(station_id, tx.evse_id, tx.connector_id)
            if before is None or (before.status == "Available" and newest(at, _reported_at(ctx, before))):
                report = ConnectorStatus(
                    ocpp_version=tx.ocpp_version,
                    evse_id=tx.evse_id,
                    connector_id=tx.connector_id,
                    status="Occupied",
                )
                await _apply(ctx, uow, station, before, tx.evse_id, tx.connector_id, at, report)
        if station_changed:
            await uow.status.save_station(station, ctx.clock(), new=new_station)
        await uow.commit()


async def _apply(
    ctx: HealthContext,
    uow: DiagnosticsUnitOfWork,
    station: StationRow,
    before: ConnectorRow | None,
    evse_id: int,
    connector_id: int,
    at: datetime,
    report: ConnectorStatus,
) -> None:
    station_id = station.station_id
    status = normalise(report.status)
    code = error_code(report.error_code)
    row = ConnectorRow(
        station_id,
        evse_id,
        connector_id,
        ocpp_status=report.status,
        status=status,
        since=at,
        reported_at=at,
        error_code=code,
        vendor_error_code=report.vendor_error_code,
        info=report.info,
        short_sessions=before.short_sessions if before else 0,
    )
    changed = before is None or (before.status, before.error_code) != (status, code)
    if not changed:
        assert before is not None
        row.since = before.since
        same = (before.ocpp_status, before.vendor_error_code, before.info) == (
            report.status,
            report.vendor_error_code,
            report.info,
        )
        if same and at - before.reported_at < LAST_SEEN_GRANULARITY:
            row = before  # the same report again within a second: nothing to write
    if row is not before:
        await uow.status.save_connector(row, new=before is None)
    if changed:
        await uow.status.open_status_interval(row, at, opened=before.since if before is not None else None)
        child = _CHANGES_BY_STATUS.get(status)
        if child is None:
            child = _CHANGES_BY_STATUS[status] = STATUS_CHANGES.labels(status)
        child.inc()
        shown = shown_status(status, station.online)
        status_changed(ctx, uow, station_id, evse_id, connector_id, shown, report.status, code, at)
    target = Target(station_id, evse_id, connector_id)
    if status == "Faulted":
        detail = {"error_code": code, "vendor_error_code": report.vendor_error_code, "info": report.info}
        await alerting.open_alert(ctx, uow, "connector_faulted", target, at, detail)
    elif before is not None and before.status == "Faulted":  # else no faulted alert can be open (a new port has none)
        await alerting.clear(ctx, uow, "connector_faulted", target, at)

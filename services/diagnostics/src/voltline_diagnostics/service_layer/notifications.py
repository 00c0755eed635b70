"""Station notifications that open or resolve alerts, or fill the inventory; each event one transaction.

- security events → `security_event` (one open alert per station and event type; resolved by hand);
- 2.x NotifyEvent → `device_problem` per component/variable: opened by an Alerting event or a `Problem`
  variable that became true, resolved when the station clears it;
- firmware / log status → `firmware_failed` / `log_upload_failed`, resolved by a later success;
- NotifyReport → the station's device model (inventory).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from voltline_events.payloads import DeviceEvents, DeviceReport, FirmwareStatus, LogStatus, SecurityEvent
from voltline_events.payloads.notifications import ComponentRef, VariableRef

from voltline_diagnostics.domain.alerts import FIRMWARE_DONE, FIRMWARE_FAILURES, LOG_DONE, LOG_FAILURES, Target
from voltline_diagnostics.service_layer import alerting
from voltline_diagnostics.service_layer.context import CONSUMER, HealthContext
from voltline_diagnostics.service_layer.status import heard, station_for


def _name(component: ComponentRef, variable: VariableRef) -> str:
    c = component.name + (f"[{component.instance}]" if component.instance else "")
    v = variable.name + (f"[{variable.instance}]" if variable.instance else "")
    return f"{c}.{v}"


async def record_security_event(
    ctx: HealthContext, station_id: str, event_id: UUID, at: datetime, event: SecurityEvent
) -> None:
    async with ctx.uow() as uow:
        if not await uow.inbox.first_time(CONSUMER, event_id):
            return
        station, new = await station_for(ctx, uow, station_id, at, event.ocpp_version)
        await heard(ctx, uow, station, at)
        detail = {"type": event.event_type, "tech_info": event.tech_info, "station_time": event.timestamp.isoformat()}
        await alerting.open_alert(ctx, uow, "security_event", Target(station_id, subject=event.event_type), at, detail)
        await uow.status.save_station(station, ctx.clock(), new=new)
        await uow.commit()


def _is_problem(variable: str, value: str, trigger: str, cleared: bool) -> bool | None:
    """True: a problem began; False: it ended; None: not about a problem."""
    if variable == "Problem":
        return value.strip().lower() == "true" and not cleared
    if trigger == "Alerting":
        return not cleared
    return False if cleared else None


async def record_device_events(
    ctx: HealthContext, station_id: str, event_id: UUID, at: datetime, events: DeviceEvents
) -> None:
    async with ctx.uow() as uow:
        if not await uow.inbox.first_time(CONSUMER, event_id):
            return
        station, new = await station_for(ctx, uow, station_id, at, events.ocpp_version)
        await heard(ctx, uow, station, at)
        for e in events.events:
            problem = _is_problem(e.variable.name, e.actual_value, e.trigger, e.cleared)
            if problem is None:
                continue
            target = Target(station_id, e.component.evse_id, e.component.connector_id, _name(e.component, e.variable))
            if problem:
                detail = {
                    "component": e.component.name,
                    "variable": e.variable.name,
                    "actual_value": e.actual_value,
                    "tech_code": e.tech_code,
                    "tech_info": e.tech_info,
                    "event_notification_type": e.event_notification_type,
                }
                await alerting.open_alert(ctx, uow, "device_problem", target, at, detail)
            else:
                await alerting.clear(ctx, uow, "device_problem", target, at)
        await uow.status.save_station(station, ctx.clock(), new=new)
        await uow.commit()


async def record_transfer_status(
    ctx: HealthContext, station_id: str, event_id: UUID, at: datetime, event: FirmwareStatus | LogStatus
) -> None:
    if isinstance(event, FirmwareStatus):
        rule, failed, done = "firmware_failed", FIRMWARE_FAILURES, FIRMWARE_DONE
    else:
        rule, failed, done = "log_upload_failed", LOG_FAILURES, LOG_DONE
    async with ctx.uow() as uow:
        if not await uow.inbox.first_time(CONSUMER, event_id):
            return
        station, new = await station_for(ctx, uow, station_id, at, event.ocpp_version)
        await heard(ctx, uow, station, at)
        target = Target(station_id)
        if event.status in failed:
            detail = {"status": event.status, "request_id": event.request_id, "info": event.info}
            await alerting.open_alert(ctx, uow, rule, target, at, detail)
        elif event.status in done:
            await alerting.clear(ctx, uow, rule, target, at)
        await uow.status.save_station(station, ctx.clock(), new=new)
        await uow.commit()


async def record_report(
    ctx: HealthContext, station_id: str, event_id: UUID, at: datetime, report: DeviceReport
) -> None:
    """A part of a device-model report: every reported attribute becomes (or replaces) one inventory row."""
    async with ctx.uow() as uow:
        if not await uow.inbox.first_time(CONSUMER, event_id):
            return
        station, new = await station_for(ctx, uow, station_id, at, report.ocpp_version)
        await heard(ctx, uow, station, at)
        rows = []
        for item in report.items:
            ch = item.characteristics
            for attr in item.attributes:
                c, v = item.component, item.variable
                key = f"{_name(c, v)}@{c.evse_id}/{c.connector_id}#{attr.type}"
                rows.append(
                    {
                        "key": key[:400],
                        "component": c.name,
                        "component_instance": c.instance,
                        "evse_id": c.evse_id,
                        "connector_id": c.connector_id,
                        "variable": v.name,
                        "variable_instance": v.instance,
                        "attribute_type": attr.type,
                        "value": attr.value,
                        "mutability": attr.mutability,
                        "data_type": ch.data_type if ch else None,
                        "unit": ch.unit if ch else None,
                        "source": "NotifyReport",
                    }
                )
        await uow.inventory.put_variables(station_id, rows, ctx.clock())
        await uow.status.save_station(station, ctx.clock(), new=new)
        await uow.commit()

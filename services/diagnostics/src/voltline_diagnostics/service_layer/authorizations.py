"""Boot answers and authorisations as the gateway answered them (station.boot_answered,
station.authorize_answered), and the `authorized_not_started` rule.

A station whose drivers are authorised but never start charging looks Available while nobody can use it
(a broken cable lock, a contactor that never closes, a start button that does nothing): `count` accepted
authorisations in a row, each not followed by any transaction event within `after_s`, open the alert; the
next transaction resolves it (`status.transaction_seen`). An authorisation counts as unused when the next
one arrives after `after_s` without a transaction between, or when the monitor finds it older than that.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from voltline_events.payloads import AuthorizeAnswered, BootAnswered

from voltline_diagnostics.domain.alerts import Target, authorization_unused
from voltline_diagnostics.service_layer import alerting
from voltline_diagnostics.service_layer.context import CONSUMER, HealthContext
from voltline_diagnostics.service_layer.ports import StationRow
from voltline_diagnostics.service_layer.status import AUTHORIZED_NOT_STARTED as RULE
from voltline_diagnostics.service_layer.status import heard, register, registration, station_for
from voltline_diagnostics.service_layer.unit_of_work import DiagnosticsUnitOfWork


async def record_boot_answer(
    ctx: HealthContext, station_id: str, event_id: UUID, at: datetime, answer: BootAnswered
) -> None:
    """The boot status the station was given; when Accepted, its interval is the heartbeat interval (which
    also sets how long a silence makes it unresponsive). By the gateway's time: an older answer read late
    changes nothing (domain/registration.py)."""
    async with ctx.uow() as uow:
        if not await uow.inbox.first_time(CONSUMER, event_id):
            return
        station, new = await station_for(ctx, uow, station_id, at, answer.ocpp_version)
        await heard(ctx, uow, station, at)
        register(station, registration(station).answered(at, answer.status, answer.interval))
        await uow.status.save_station(station, ctx.clock(), new=new)
        await uow.commit()


async def record_authorization(
    ctx: HealthContext, station_id: str, event_id: UUID, at: datetime, answer: AuthorizeAnswered
) -> None:
    async with ctx.uow() as uow:
        if not await uow.inbox.first_time(CONSUMER, event_id):
            return
        station, new = await station_for(ctx, uow, station_id, at, answer.ocpp_version)
        await heard(ctx, uow, station, at)
        if answer.status == "Accepted":
            await count_if_unused(ctx, uow, station, at)
            station.authorized_at = at
        await uow.status.save_station(station, ctx.clock(), new=new)
        await uow.commit()


async def count_if_unused(ctx: HealthContext, uow: DiagnosticsUnitOfWork, station: StationRow, now: datetime) -> bool:
    """The station's pending authorisation, if no transaction followed it in time, counts as unused (and
    opens the alert at `count`). True when the station changed."""
    rule = ctx.rules[RULE]
    if not authorization_unused(station.authorized_at, now, rule):
        return False
    assert station.authorized_at is not None
    last, station.authorized_at = station.authorized_at, None
    station.unused_authorizations += 1
    if rule.count > 0 and station.unused_authorizations >= rule.count:
        detail = {"unused_authorizations": station.unused_authorizations, "last_authorized_at": last.isoformat()}
        await alerting.open_alert(ctx, uow, RULE, Target(station.station_id), now, detail)
    return True


async def check_unused(ctx: HealthContext, now: datetime) -> None:
    """The monitor's round: authorisations older than `after_s` without a transaction; each station in its own
    short transaction."""
    rule = ctx.rules[RULE]
    if not rule.enabled:
        return
    async with ctx.uow() as uow:
        due = await uow.status.authorized_before(now - timedelta(seconds=rule.after_s))
    for station_id in due:
        async with ctx.uow() as uow:
            station = await uow.status.station(station_id)
            if station is not None and await count_if_unused(ctx, uow, station, now):
                await uow.status.save_station(station, ctx.clock(), new=False)
                await uow.commit()

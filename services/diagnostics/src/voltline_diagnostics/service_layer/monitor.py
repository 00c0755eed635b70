"""The periodic checks no station message triggers: offline too long, silent connections, boot loops over,
authorisations that never became a transaction.

Runs every `interval` seconds in every instance; each check is idempotent (an open alert is never opened
twice, a station is marked unresponsive by a conditional update), so several instances may run it at once.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

import structlog
from voltline_chassis.metrics import gauge
from voltline_events.payloads import StationHealthChanged

from voltline_diagnostics.domain.alerts import Target
from voltline_diagnostics.domain.status import heard_within
from voltline_diagnostics.service_layer import alerting, heard
from voltline_diagnostics.service_layer.authorizations import check_unused
from voltline_diagnostics.service_layer.context import HealthContext
from voltline_diagnostics.service_layer.sessions import check_stuck
from voltline_diagnostics.service_layer.status import HEALTH_CHANGES

log = structlog.get_logger()

STATIONS = gauge("voltline_diagnostics_stations", "Stations by health", ["health"])
OPEN_ALERTS = gauge("voltline_diagnostics_open_alerts", "Open or acknowledged alerts", ["rule", "severity"])


async def check_once(ctx: HealthContext, *, sweep: bool = True) -> None:
    """One round. Candidates are read first; each station's change is its own short transaction, so a round
    that finds thousands (a network outage) never holds the store's write lock for long.

    Silent stations come from `ctx.silence_watch` (those this process heard whose deadline passed); a
    `sweep` also reads every online station silent longer than the minimum, for those heard by another
    instance (or before this one started), and teaches the watch their deadlines."""
    now = ctx.clock()
    async with ctx.uow() as uow:
        silent = await uow.status.online_heard_before(now - ctx.silence.minimum) if sweep else []
        offline_rule = ctx.rules["station_offline"]
        offline = (
            await uow.status.offline_since_before(now - timedelta(seconds=offline_rule.after_s))
            if offline_rule.enabled
            else []
        )
        loops = await uow.alerts.open_of_rule("boot_loop")
    candidates = set(ctx.silence_watch.due(now))
    for station_id, seen, hb in silent:
        limit = ctx.silence.limit(hb, ctx.default_heartbeat_s)
        if heard_within(seen, now, limit):
            ctx.silence_watch.heard(station_id, seen + limit)  # heard within its own limit: watched from now on
        else:
            candidates.add(station_id)
    for station_id in sorted(candidates):
        await _check_silent(ctx, station_id, now)
    for station_id, since in offline:  # only those without an open station_offline alert
        async with ctx.uow() as uow:
            detail = {"offline_since": since.isoformat()}
            await alerting.open_alert(ctx, uow, "station_offline", Target(station_id), now, detail)
            await uow.commit()
    window = timedelta(seconds=ctx.rules["boot_loop"].window_s)
    for alert in loops:
        async with ctx.uow() as uow:
            station = await uow.status.station(alert.target.station_id)
            current = await uow.alerts.get(alert.alert_id)
            booted = station.last_boot_at if station else None
            if current and current.status != "resolved" and booted and now - booted > window:
                await alerting.resolve(ctx, uow, current, now)
                await uow.commit()
    await check_unused(ctx, now)
    async with ctx.uow() as uow:
        await check_stuck(ctx, uow, now)
        await uow.commit()
        for health, n in (await uow.status.health_counts()).items():
            STATIONS.labels(health).set(n)
        OPEN_ALERTS.clear()
        for (rule, severity), n in (await uow.alerts.open_counts()).items():
            OPEN_ALERTS.labels(rule, severity).set(n)


async def _check_silent(ctx: HealthContext, station_id: str, now: datetime) -> None:
    """Mark the station unresponsive if the store agrees it is silent past its limit (another instance may
    have heard it); else watch it until its deadline in the store."""
    async with ctx.uow() as uow:
        station = await uow.status.station(station_id)
        if station is None or not station.online or station.unresponsive:
            return
        limit = ctx.silence.limit(station.heartbeat_interval_s, ctx.default_heartbeat_s)
        seen = heard.seen(ctx, station)  # with what this process heard and has not written yet
        if heard_within(seen, now, limit):
            ctx.silence_watch.heard(station_id, seen + limit)
            return
        if await uow.status.mark_unresponsive({station_id: now - limit}, now):
            heard.forget(ctx, [station_id])  # its next message goes through a batch, which clears it
            alerting.publish(ctx, uow, StationHealthChanged(health="unresponsive", since=now), station_id)
            HEALTH_CHANGES.labels("unresponsive").inc()
            silent_s = int((now - station.last_seen_at).total_seconds())
            detail = {"last_seen_at": station.last_seen_at.isoformat(), "silent_s": silent_s}
            await alerting.open_alert(ctx, uow, "station_unresponsive", Target(station_id), now, detail)
        await uow.commit()
    heard.forget(ctx, [station_id])  # and again after the commit: a batch may have remembered it meanwhile


async def run_monitor(ctx: HealthContext, interval: float, sweep_s: float = 60.0) -> None:
    """Every `interval` seconds; a full sweep of silent stations at the first round and every `sweep_s`."""
    last_sweep: float | None = None
    while True:
        started = time.monotonic()
        sweep = last_sweep is None or started - last_sweep >= sweep_s
        try:
            await check_once(ctx, sweep=sweep)
            if sweep:
                last_sweep = started
        except Exception:  # a failed round is retried at the next; nothing here may stop the service
            log.exception("health check round failed")
        await asyncio.sleep(interval)

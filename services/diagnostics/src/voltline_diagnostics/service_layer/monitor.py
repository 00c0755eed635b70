"""The periodic checks no station message triggers: offline too long, silent connections, boot loops over.

Runs every `interval` seconds in every instance; each check is idempotent (an open alert is never opened
twice, a station is marked unresponsive by a conditional update), so several instances may run it at once.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog
from voltline_chassis.metrics import gauge
from voltline_events.payloads import StationHealthChanged

from voltline_diagnostics.domain.alerts import Target
from voltline_diagnostics.service_layer import alerting
from voltline_diagnostics.service_layer.context import HealthContext
from voltline_diagnostics.service_layer.sessions import check_stuck
from voltline_diagnostics.service_layer.status import HEALTH_CHANGES

log = structlog.get_logger()

STATIONS = gauge("diagnostics_stations", "Stations by health", ["health"])
OPEN_ALERTS = gauge("diagnostics_open_alerts", "Open or acknowledged alerts", ["rule", "severity"])


async def check_once(ctx: HealthContext) -> None:
    now = ctx.clock()
    async with ctx.uow() as uow:
        # silent connections: the shortest possible limit first, then each station's own
        earliest = now - ctx.silence.minimum
        cutoffs = {
            sid: now - ctx.silence.limit(hb, ctx.default_heartbeat_s)
            for sid, _seen, hb in await uow.status.online_heard_before(earliest)
        }
        for station_id in await uow.status.mark_unresponsive(cutoffs, now):
            station = await uow.status.station(station_id)
            assert station is not None
            alerting.publish(ctx, uow, StationHealthChanged(health="unresponsive", since=now), station_id)
            HEALTH_CHANGES.labels("unresponsive").inc()
            detail = {
                "last_seen_at": station.last_seen_at.isoformat(),
                "silent_s": int((now - station.last_seen_at).total_seconds()),
            }
            await alerting.open_alert(ctx, uow, "station_unresponsive", Target(station_id), now, detail)
        offline = ctx.rules["station_offline"]
        if offline.enabled:
            for station_id, since in await uow.status.offline_since_before(now - timedelta(seconds=offline.after_s)):
                detail = {"offline_since": since.isoformat()}
                await alerting.open_alert(ctx, uow, "station_offline", Target(station_id), now, detail)
        loop = ctx.rules["boot_loop"]
        for alert in await uow.alerts.open_of_rule("boot_loop"):
            station = await uow.status.station(alert.target.station_id)
            if station and station.last_boot_at and now - station.last_boot_at > timedelta(seconds=loop.window_s):
                await alerting.resolve(ctx, uow, alert, now)
        await check_stuck(ctx, uow, now)
        for health, n in (await uow.status.health_counts()).items():
            STATIONS.labels(health).set(n)
        OPEN_ALERTS.clear()
        for (rule, severity), n in (await uow.alerts.open_counts()).items():
            OPEN_ALERTS.labels(rule, severity).set(n)
        await uow.commit()


async def run_monitor(ctx: HealthContext, interval: float) -> None:
    while True:
        try:
            await check_once(ctx)
        except Exception:  # a failed round is retried at the next; nothing here may stop the service
            log.exception("health check round failed")
        await asyncio.sleep(interval)

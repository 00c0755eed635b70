"""Firmware campaigns: choose the stations, roll out in batches, follow each station, halt on failures.

`tick()` runs every few seconds: it times out stations, halts a campaign whose failure rate passed its
threshold, starts the next batch once the current one finished, retries deferred stations (charging or
offline) and completes the campaign. Notifications and boots move each station along as they arrive.
"""

from __future__ import annotations

import asyncio
import builtins
import contextvars
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from voltline_chassis.logging import get_logger
from voltline_events import Envelope

from voltline_diagnostics.domain import firmware as rules
from voltline_diagnostics.service_layer.commands import CommandService, request_id_of
from voltline_diagnostics.service_layer.maintenance_ports import (
    Campaign,
    CommandRecord,
    Firmware,
    MaintenanceStore,
    OnlineStations,
    StationFirmware,
    TargetRow,
)

log = get_logger(__name__)


class CampaignError(ValueError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Selection:
    stations: list[str] | None
    model: str | None
    from_versions: list[str] | None


def _plan(c: Campaign) -> rules.Plan:
    return rules.Plan(
        canary_size=c.canary_size,
        batch_size=c.batch_size,
        failure_threshold=c.failure_threshold_percent / Decimal(100),
        min_finished=c.min_finished,
        station_timeout=timedelta(seconds=c.station_timeout_s),
    )


def _rule_target(t: TargetRow) -> rules.Target:
    return rules.Target(t.station_id, t.state, t.batch, t.started_at)


class CampaignService:
    def __init__(
        self,
        sessions: MaintenanceStore,
        commands: CommandService,
        online: OnlineStations,
        location_of: Callable[[Firmware], str],
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions, self._commands, self._online = sessions, commands, online
        self._location_of, self._clock = location_of, clock
        self._lock = asyncio.Lock()

    async def create(self, firmware_id: str, selection: Selection, options: dict[str, Any], by: str) -> Campaign:
        now = self._clock()
        async with self._sessions() as db:
            repo = db.firmware
            firmware = await repo.firmware(firmware_id)
            if firmware is None:
                raise CampaignError(f"no firmware {firmware_id!r} in the catalogue", "firmware_id")
            if selection.stations:
                known = {s.station_id: s for s in await repo.stations(None, None)}
                chosen = [(sid, known[sid].firmware_version if sid in known else None) for sid in selection.stations]
            else:
                found = await repo.stations(selection.model or firmware.model, selection.from_versions)
                chosen = [(s.station_id, s.firmware_version) for s in found if s.firmware_version != firmware.version]
            if not chosen:
                raise CampaignError("the selection matches no station", "stations")
            campaign = Campaign(
                campaign_id=str(uuid.uuid4()),
                firmware_id=firmware_id,
                status="running",
                reason=None,
                created_by=by,
                created_at=now,
                updated_at=now,
                **options,
            )
            targets = [
                TargetRow(campaign.campaign_id, sid, "pending", None, None, None, version, None, None, None, None)
                for sid, version in dict(chosen).items()
            ]
            await repo.add_campaign(campaign, targets)
            await db.commit()
        log.info("firmware campaign created", campaign_id=campaign.campaign_id, stations=len(targets), by=by)
        return campaign

    async def get(self, campaign_id: str) -> tuple[Campaign, list[TargetRow]] | None:
        async with self._sessions() as db:
            repo = db.firmware
            campaign = await repo.campaign(campaign_id)
            return (campaign, await repo.targets(campaign_id)) if campaign else None

    async def list(self) -> list[Campaign]:
        async with self._sessions() as db:
            return await db.firmware.campaigns()

    async def control(self, campaign_id: str, action: str) -> Campaign:
        """pause | resume | cancel; CampaignError when the campaign's state does not allow it."""
        allowed = {"pause": {"running"}, "resume": {"paused", "halted"}, "cancel": rules.OPEN_CAMPAIGN}
        new = {"pause": "paused", "resume": "running", "cancel": "cancelled"}[action]
        # Not under the tick's lock (a tick may wait for stations' answers): the updates are conditional.
        async with self._sessions() as db:
            repo = db.firmware
            campaign = await repo.campaign(campaign_id, lock=True)
            if campaign is None:
                raise LookupError(campaign_id)
            if campaign.status not in allowed[action]:
                raise CampaignError(f"cannot {action} a campaign that is {campaign.status}")
            now = self._clock()
            await repo.set_campaign(campaign_id, status=new, updated_at=now, reason=f"{action} by operator")
            if action == "cancel":
                for t in await repo.targets(campaign_id):
                    if t.state in rules.WAITING_TARGET:
                        await repo.set_target(campaign_id, t.station_id, state="cancelled", finished_at=now)
            await db.commit()
        refreshed = await self.get(campaign_id)
        assert refreshed is not None
        return refreshed[0]

    async def tick(self) -> None:
        async with self._lock:
            async with self._sessions() as db:
                open_campaigns = await db.firmware.campaigns(rules.OPEN_CAMPAIGN)
            for campaign in open_campaigns:
                await self._advance(campaign)

    async def _advance(self, campaign: Campaign) -> None:
        plan, now = _plan(campaign), self._clock()
        async with self._sessions() as db:
            repo = db.firmware
            firmware = await repo.firmware(campaign.firmware_id)
            targets = await repo.targets(campaign.campaign_id)
            for t in targets:
                if rules.timed_out(plan, _rule_target(t), now):
                    await repo.set_target(
                        t.campaign_id, t.station_id, state="failed", reason="timeout", finished_at=now
                    )
            targets = await repo.targets(campaign.campaign_id)
            view = [_rule_target(t) for t in targets]
            running = campaign.status == "running"
            if running and rules.should_halt(plan, view):
                running = False
                failed, finished, rate = rules.failure_rate(view)
                reason = (
                    f"halted: {failed} of {finished} finished stations failed ({rate * 100:.0f}% > "
                    f"{campaign.failure_threshold_percent}%)"
                )
                await repo.set_campaign(campaign.campaign_id, status="halted", reason=reason, updated_at=now)
                log.warning("firmware campaign halted", campaign_id=campaign.campaign_id, reason=reason)
            elif running:
                batch = rules.next_batch(plan, view)
                if batch is not None:
                    number, stations = batch
                    for sid in stations:
                        await repo.set_target(campaign.campaign_id, sid, batch=number)
                if all(t.state in rules.FINAL_TARGET for t in view):
                    await repo.set_campaign(campaign.campaign_id, status="completed", updated_at=now)
                    running = False
            await db.commit()
            to_send = await repo.targets(campaign.campaign_id) if running else []
        if firmware is None:
            return
        sends = [t for t in to_send if t.batch is not None and t.state in rules.WAITING_TARGET]
        await asyncio.gather(*(self._send(campaign, firmware, t) for t in sends))

    async def _send(self, campaign: Campaign, firmware: Firmware, target: TargetRow) -> None:
        presence = self._online.get(target.station_id)
        async with self._sessions() as db:
            station = await db.firmware.station(target.station_id)
        reason = None
        if presence is None or not presence.connected:
            reason = "offline"
        elif not campaign.force and station is not None and rules.busy(station.connectors):
            reason = "charging"
        if reason is not None:
            if target.state != "deferred" or target.reason != reason:
                await self._set(target, only_in=("pending", "deferred"), state="deferred", reason=reason)
            return
        command_id = str(uuid.uuid4())
        now = self._clock()
        params = {"location": self._location_of(firmware), "retrieve_at": now.isoformat().replace("+00:00", "Z")}
        if firmware.signing_certificate and firmware.signature:
            params |= {"signing_certificate": firmware.signing_certificate, "signature": firmware.signature}
        claimed = await self._set(
            target,
            only_in=("pending", "deferred"),
            state="sent",
            reason=None,
            command_id=command_id,
            request_id=request_id_of(command_id),
            started_at=now,
        )
        if not claimed:
            return
        outcome = await self._commands.submit(
            target.station_id, "update-firmware", params, f"campaign:{campaign.campaign_id}", command_id=command_id
        )
        record = outcome if isinstance(outcome, CommandRecord) else await outcome
        if record.status == "station_offline":  # it left between the check and the command: try again later
            await self._set(
                target, only_in=("sent",), state="deferred", reason="offline", started_at=None, command_id=None
            )
        elif record.status != "accepted":
            await self._set(
                target,
                only_in=("sent",),
                state="failed",
                reason=f"update refused: {record.status} {record.detail or ''}".strip(),
                finished_at=self._clock(),
            )

    async def _set(self, target: TargetRow, *, only_in: tuple[str, ...], **values: Any) -> bool:
        async with self._sessions() as db:
            changed = await db.firmware.set_target(target.campaign_id, target.station_id, only_in=only_in, **values)
            await db.commit()
        return changed

    async def firmware_status(self, station_id: str, status: str) -> None:
        async with self._sessions() as db:
            repo = db.firmware
            for t in await repo.active_targets_of(station_id, rules.ACTIVE_TARGET):
                state, reason = rules.after_notification(t.state, status)
                final = self._clock() if state in rules.FINAL_TARGET else None
                await repo.set_target(
                    t.campaign_id, station_id, state=state, reason=reason, last_status=status, finished_at=final
                )
            await db.commit()

    async def booted(self, station_id: str, vendor: str, model: str, version: str | None, at: datetime) -> None:
        async with self._sessions() as db:
            repo = db.firmware
            await repo.booted(station_id, vendor, model, version, at)
            for t in await repo.active_targets_of(station_id, rules.ACTIVE_TARGET):
                campaign = await repo.campaign(t.campaign_id)
                firmware = await repo.firmware(campaign.firmware_id) if campaign else None
                if firmware is None:
                    continue
                state, reason = rules.after_boot(t.state, version, firmware.version)
                if state != t.state:
                    final = self._clock() if state in rules.FINAL_TARGET else None
                    await repo.set_target(t.campaign_id, station_id, state=state, reason=reason, finished_at=final)
            await db.commit()

    async def stations(self, model: str | None, version: str | None) -> builtins.list[StationFirmware]:
        async with self._sessions() as db:
            return await db.firmware.stations(model, [version] if version else None)

    async def connector_status(self, station_id: str, connector: str, status: str) -> None:
        pending = _PENDING_STATUS.get()
        if pending is not None:  # inside a consumer batch: written once, at its end (`collecting_statuses`)
            pending.setdefault(station_id, {})[connector] = status
            return
        async with self._sessions() as db:
            await db.firmware.connector(station_id, connector, status)
            await db.commit()

    def status_batch(self) -> ConnectorStatusBatch:
        return ConnectorStatusBatch(self._sessions)


_PENDING_STATUS: contextvars.ContextVar[dict[str, dict[str, str]] | None] = contextvars.ContextVar(
    "diagnostics_pending_connector_status", default=None
)


class ConnectorStatusBatch:
    """A batch scope of its own for connector statuses: those of one batch are kept in memory (the last per
    connector) and written in one transaction of their own at its end, instead of a transaction per
    StatusNotification. The service does not use it: the station events consumer collects them the same way
    and writes them inside its status batch's transaction (`Maintenance.with_connector_statuses`); maintenance
    has no consumer of its own any more (docs/diagnostics.md "Maintenance's rare events")."""

    def __init__(self, store: MaintenanceStore) -> None:
        self._store = store

    def __call__(self, envelopes: Sequence[Envelope]) -> AbstractAsyncContextManager[None]:
        return self._scope()

    @asynccontextmanager
    async def _scope(self) -> AsyncIterator[None]:
        async with collecting_statuses() as pending:
            yield
        if pending:  # not reached when a handler raised: the consumer handles those events again
            async with self._store() as db:
                await db.firmware.connectors_many(pending)
                await db.commit()


@asynccontextmanager
async def collecting_statuses() -> AsyncIterator[dict[str, dict[str, str]]]:
    """Inside this scope `CampaignService.connector_status` only keeps the last status per connector in the
    dict it yields (`pending[station][connector]`); the caller writes them (`connectors_many`)."""
    pending: dict[str, dict[str, str]] = {}
    token = _PENDING_STATUS.set(pending)
    try:
        yield pending
    finally:
        _PENDING_STATUS.reset(token)

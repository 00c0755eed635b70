"""Getting stations in step with auth: clearing their authorisation caches and installing local lists.

Every change that a station must hear about bumps the station's sync generation in the same
transaction as the change (so nothing is forgotten across restarts). A worker picks connected,
accepted stations with pending work, takes a lease on each (replicas never push to one station at
once), sends the OCPP calls through the gateway, and either marks the work done or retries later
with backoff. A station that is offline is served when it boots again.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from voltline_chassis.logging import get_logger

from voltline_auth.domain.local_lists import (
    FOREIGN_LIST,
    Entry,
    LocalList,
    OnStation,
    Plan,
    plan_update,
    reported_version,
)
from voltline_auth.domain.local_lists import send_local_list as send_local_list_payload
from voltline_auth.domain.station_commands import Command, Verdict, clear_cache, get_local_list_version, judge
from voltline_auth.domain.sync import StationSync, next_attempt
from voltline_auth.service_layer.context import AuthContext
from voltline_auth.service_layer.stations import StationNotFound

log = get_logger(__name__)


class SyncBusy(Exception):
    """Another worker (maybe on another replica) is talking to this station right now."""


@dataclass
class SyncReport:
    station_id: str
    ok: bool = True
    retry: bool = False
    error: str | None = None
    steps: list[str] = field(default_factory=list)

    def fail(self, detail: str, *, retry: bool) -> None:
        self.ok, self.retry, self.error = False, retry, detail
        self.steps.append(detail)


class StationSyncer:
    def __init__(
        self, ctx: AuthContext, *, poll_interval_s: float, lease_s: float, concurrency: int, batch: int = 100
    ) -> None:
        self._ctx = ctx
        self._poll = poll_interval_s
        self._lease = timedelta(seconds=lease_s)
        self._slots = asyncio.Semaphore(concurrency)
        self._batch = batch
        self._wake = asyncio.Event()
        self._running: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    def kick(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="station-sync")

    async def stop(self) -> None:
        tasks = [t for t in (self._loop_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
            self._wake.clear()
            try:
                async with self._ctx.uow() as uow:
                    due = await uow.sync.due(self._ctx.clock(), self._batch)
            except Exception:
                log.exception("station sync: could not read pending work")
                continue
            for station_id in due:
                if station_id not in self._running:
                    self._running.add(station_id)
                    task = asyncio.create_task(self._guarded(station_id), name=f"sync:{station_id}")
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)

    async def _guarded(self, station_id: str) -> None:
        try:
            async with self._slots:
                report = await self.sync_station(station_id)
            log.info("station synced", station_id=station_id, ok=report.ok, steps=report.steps)
        except SyncBusy:
            pass
        except Exception:
            log.exception("station sync failed", station_id=station_id)
        finally:
            self._running.discard(station_id)

    async def sync_station(self, station_id: str) -> SyncReport:
        """Do everything the station is owed now; raises SyncBusy if someone else is at it."""
        ctx = self._ctx
        async with ctx.uow() as uow:
            if await uow.stations.get(station_id) is None:
                raise StationNotFound(station_id)
            await uow.sync.ensure(station_id)
            if not await uow.sync.claim(station_id, ctx.clock(), self._lease):
                raise SyncBusy(station_id)
            state = await uow.sync.get(station_id)
            await uow.commit()
        assert state is not None
        report = SyncReport(station_id)
        changes: dict[str, Any] = {}
        try:
            await self._work(state, report, changes)
        except BaseException as exc:
            report.fail(f"interrupted: {type(exc).__name__}", retry=True)
            raise
        finally:
            await self._finish(state, report, changes)
        return report

    async def _send(self, state: StationSync, command: Command) -> tuple[Verdict, dict[str, Any]]:
        result = await self._ctx.commands.send(state.station_id, command, state.ocpp_version)
        return judge(result), result.payload or {}

    async def _work(self, state: StationSync, report: SyncReport, changes: dict[str, Any]) -> None:
        if state.ocpp_version is None:
            report.fail("the station's OCPP version is not known until it connects", retry=False)
            return
        if state.cache_clear_pending:
            verdict, _ = await self._send(state, clear_cache())
            if not verdict.ok and verdict.retry:
                report.fail(f"ClearCache: {verdict.detail}", retry=True)
                return
            changes["cache_clear_pending"] = False
            report.steps.append(f"ClearCache: {verdict.detail}")
        if state.has_list_work:
            await self._sync_list(state, report, changes)

    async def _sync_list(self, state: StationSync, report: SyncReport, changes: dict[str, Any]) -> None:
        verdict, answer = await self._send(state, get_local_list_version())
        reported = reported_version(state.ocpp_version or "", answer) if verdict.ok else None
        if not verdict.ok and verdict.retry:
            report.fail(f"GetLocalListVersion: {verdict.detail}", retry=True)
            return
        if reported is None or reported < 0:
            changes["list_supported"] = False
            report.steps.append("the station does not support local lists")
            return
        report.steps.append(f"station holds local list version {reported}")
        # A version voltline did not record: the station holds a list from elsewhere, replaced by a Full update.
        held = state.held if reported == state.list_version_on_station else OnStation(None, reported, known=False)
        async with self._ctx.uow() as uow:
            target = await uow.lists.get(state.local_list) if state.local_list else None
        for attempt in (1, 2):
            plan = plan_update(target, held)
            if plan.update_type is not None:
                entries = await self._entries(target, plan)
                payload = send_local_list_payload(
                    state.ocpp_version or "", plan.version, plan.update_type, entries, self._ctx.clock()
                )
                verdict, _ = await self._send(state, Command("SendLocalList", payload))
                if verdict.status == "VersionMismatch" and attempt == 1:
                    held = OnStation(None, held.version)  # the station disagrees: send it everything
                    continue
                if not verdict.ok:
                    if verdict.retry:
                        report.fail(f"SendLocalList: {verdict.detail}", retry=True)
                    else:
                        changes["list_supported"] = False
                        report.steps.append(f"SendLocalList: {verdict.detail}; not trying again")
                    return
                report.steps.append(f"SendLocalList {plan.update_type} v{plan.version}: {verdict.detail}")
            changes["list_on_station"] = target.list_id if target else None
            changes["list_version_on_station"] = plan.version
            return

    async def _entries(self, target: LocalList | None, plan: Plan) -> list[Entry]:
        if target is None:
            return []
        async with self._ctx.uow() as uow:
            members = await uow.lists.entries(target.list_id)
            if plan.update_type == "Full":
                views = await uow.tokens.views(members)
                return [Entry(views[k].token.id_token, k[1], views[k]) for k in members if k in views]
            changed = await uow.lists.changes_since(target.list_id, plan.since or 0)
            present = set(members)
            views = await uow.tokens.views([k for k in changed if k in present])
            return [Entry(id_token, key[1], views.get(key)) for key, id_token in changed.items()]

    async def _finish(self, state: StationSync, report: SyncReport, changes: dict[str, Any]) -> None:
        now = self._ctx.clock()
        if report.ok or not report.retry:
            changes.update(synced_generation=state.generation, attempts=0, next_attempt_at=None)
            changes.update(last_error=report.error, last_synced_at=now if report.ok else state.last_synced_at)
        else:
            attempts = state.attempts + 1
            changes.update(attempts=attempts, next_attempt_at=next_attempt(attempts, now), last_error=report.error)
        async with self._ctx.uow() as uow:
            await uow.sync.set(state.station_id, lease_until=None, **changes)
            await uow.commit()

    async def local_list_version(self, station_id: str) -> int | None:
        """Ask the station (GetLocalListVersion); a version other than what we installed means the station lost
        or changed its list, so it is due a Full update."""
        async with self._ctx.uow() as uow:
            state = await uow.sync.get(station_id)
            if await uow.stations.get(station_id) is None:
                raise StationNotFound(station_id)
        if state is None or state.ocpp_version is None:
            raise CommandFailed(Verdict(False, False, "the station's OCPP version is not known until it connects"))
        verdict, answer = await self._send(state, get_local_list_version())
        if not verdict.ok:
            raise CommandFailed(verdict)
        reported = reported_version(state.ocpp_version or "", answer)
        if reported is not None and reported != state.list_version_on_station:
            async with self._ctx.uow() as uow:
                # Not ours: the next sync replaces it with what the station should hold (empty when none).
                await uow.sync.set(station_id, list_on_station=FOREIGN_LIST, list_version_on_station=reported)
                await uow.sync.bump([station_id])
                await uow.commit()
            self.kick()
        return reported


class CommandFailed(Exception):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.detail)
        self.verdict = verdict

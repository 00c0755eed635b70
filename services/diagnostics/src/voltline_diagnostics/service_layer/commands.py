"""Running operator commands: record, send through the gateway, record the answer.

A command is recorded `queued`, becomes `sent` when it goes to the gateway and ends in one of the final
statuses. The caller waits a short while for the answer (200) and otherwise polls the record (202). A
station the presence feed shows offline fails at once with `station_offline`, unless the caller asked to
wait for it to come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from voltline_bus import StationCommandClient
from voltline_chassis.logging import get_logger

from voltline_diagnostics.domain.commands import FINAL, CommandNotPossible, classify, translate
from voltline_diagnostics.service_layer.maintenance_ports import CommandRecord, MaintenanceStore, OnlineStations

log = get_logger(__name__)


def request_id_of(command_id: str) -> int:
    """A positive 31-bit requestId (GetLog, GetBaseReport...) derived from the command id."""
    return zlib.crc32(command_id.encode()) & 0x7FFFFFFF


@dataclass(frozen=True)
class CommandPolicy:
    timeout_s: float
    answer_wait_s: float
    max_station_wait_s: float


class CommandService:
    def __init__(
        self,
        sessions: MaintenanceStore,
        client: StationCommandClient,
        online: OnlineStations,
        policy: CommandPolicy,
        clock: Callable[[], datetime],
        who: Callable[[str], str] = lambda subject: subject,
    ) -> None:
        self._sessions, self._client, self._online, self._who = sessions, client, online, who
        self.policy, self._clock = policy, clock
        self._tasks: set[asyncio.Task[CommandRecord]] = set()
        # Called with every record the station answered (e.g. to remember the settings it reported).
        self.on_answer: list[Callable[[CommandRecord], Awaitable[None]]] = []

    async def _save(self, record: CommandRecord, *, new: bool = False) -> CommandRecord:
        async with self._sessions() as db:
            repo = db.commands
            if new:
                await repo.add(record)
            else:
                values = {k: v for k, v in record.__dict__.items() if k != "command_id"}
                await repo.update(record.command_id, **values)
            await db.commit()
        return record

    async def get(self, command_id: str) -> CommandRecord | None:
        async with self._sessions() as db:
            return await db.commands.get(command_id)

    async def find(self, **filters: Any) -> list[CommandRecord]:
        async with self._sessions() as db:
            return await db.commands.find(**filters)

    async def submit(
        self,
        station_id: str,
        command: str,
        params: dict[str, Any],
        requested_by: str,
        *,
        wait_for_station_s: float | None = None,
        bulk_id: str | None = None,
        command_id: str | None = None,
    ) -> asyncio.Task[CommandRecord] | CommandRecord:
        """A final record at once (offline, not supported) or the task that will finish it.

        Raises CommandNotPossible for parameters the station's version cannot take (nothing is recorded).
        """
        now = self._clock()
        presence = self._online.get(station_id)
        version = presence.ocpp_version if presence is not None else None
        record = CommandRecord(
            command_id=command_id or str(uuid.uuid4()),
            station_id=station_id,
            command=command,
            params=params,
            ocpp_version=version,
            action=None,
            payload=None,
            status="queued",
            response=None,
            detail=None,
            reboot_required=False,
            requested_by=self._who(requested_by),
            bulk_id=bulk_id,
            created_at=now,
            sent_at=None,
            answered_at=None,
        )
        connected = presence is not None and presence.connected
        if connected and version is not None:
            record = self._translated(record, version)
            if record.status in FINAL:
                return await self._save(record, new=True)
        elif not wait_for_station_s:
            seen = "was never seen by a gateway" if presence is None else "is not connected to any gateway"
            detail = f"Station {station_id} {seen}; nothing was sent."
            final = replace(record, status="station_offline", detail=detail, answered_at=now)
            log.info("command refused: station offline", station_id=station_id, command=command, by=requested_by)
            return await self._save(final, new=True)
        await self._save(record, new=True)
        wait = min(wait_for_station_s or 0.0, self.policy.max_station_wait_s)
        task = asyncio.create_task(self._run(record, wait), name=f"command:{record.command_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def refuse(
        self, station_id: str, command: str, params: dict[str, Any], requested_by: str, bulk_id: str, detail: str
    ) -> CommandRecord:
        """Record a command of a bulk that this station cannot take (so the bulk's progress counts it)."""
        now = self._clock()
        record = CommandRecord(
            command_id=str(uuid.uuid4()),
            station_id=station_id,
            command=command,
            params=params,
            ocpp_version=None,
            action=None,
            payload=None,
            status="failed",
            response=None,
            detail=detail,
            reboot_required=False,
            requested_by=self._who(requested_by),
            bulk_id=bulk_id,
            created_at=now,
            sent_at=None,
            answered_at=now,
        )
        return await self._save(record, new=True)

    def _translated(self, record: CommandRecord, version: str) -> CommandRecord:
        try:
            call = translate(record.command, record.params, version, request_id_of(record.command_id))
        except CommandNotPossible as exc:
            if not exc.not_supported:
                raise
            return replace(
                record, ocpp_version=version, status="not_supported", detail=str(exc), answered_at=self._clock()
            )
        return replace(record, ocpp_version=version, action=call.action, payload=call.payload)

    async def _run(self, record: CommandRecord, wait_for_station_s: float) -> CommandRecord:
        try:
            if record.action is None:
                presence = await self._online.wait_online(record.station_id, wait_for_station_s)
                if presence is None or presence.ocpp_version is None:
                    detail = f"Station {record.station_id} did not come back within {wait_for_station_s:g} s."
                    return await self._save(
                        replace(record, status="station_offline", detail=detail, answered_at=self._clock())
                    )
                try:
                    record = self._translated(record, presence.ocpp_version)
                except CommandNotPossible as exc:
                    record = replace(record, status="failed", detail=str(exc), answered_at=self._clock())
                if record.status in FINAL:
                    return await self._save(record)
            action, payload = record.action, record.payload
            assert action is not None and payload is not None
            record = await self._save(replace(record, status="sent", sent_at=self._clock()))
            result = await self._client.send(
                record.station_id,
                action,
                payload,
                timeout_s=self.policy.timeout_s,
                ocpp_version=record.ocpp_version,
                correlation_id=record.command_id,
            )
            verdict = classify(result.outcome, result.payload, result.error_code, result.error_description)
            record = replace(
                record,
                status=verdict.status,
                response=result.payload,
                detail=verdict.detail,
                reboot_required=verdict.reboot_required,
                answered_at=self._clock(),
            )
            log.info(
                "command answered",
                command_id=record.command_id,
                station_id=record.station_id,
                command=record.command,
                action=record.action,
                status=record.status,
                by=record.requested_by,
            )
            await self._save(record)
            for hook in self.on_answer:
                try:
                    await hook(record)
                except Exception:
                    log.exception("command answer hook failed", command_id=record.command_id)
            return record
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a store hiccup must not lose the record's fate silently
            log.exception("command failed", command_id=record.command_id)
            final = replace(record, status="failed", detail=f"internal error: {exc}", answered_at=self._clock())
            with contextlib.suppress(Exception):
                await self._save(final)
            return final

    async def answer_within(self, outcome: asyncio.Task[CommandRecord] | CommandRecord) -> tuple[CommandRecord, bool]:
        """The record and whether it is final, waiting up to the policy's answer wait."""
        if isinstance(outcome, CommandRecord):
            return outcome, True
        done, _ = await asyncio.wait({outcome}, timeout=self.policy.answer_wait_s)
        if done:
            return outcome.result(), True
        record = await self.get(outcome.get_name().removeprefix("command:"))
        assert record is not None
        return record, record.status in FINAL

    async def sweep(self) -> None:
        """Fail records a stopped instance left unfinished (run periodically)."""
        now = self._clock()
        sent_before = now - timedelta(seconds=self.policy.timeout_s + 60)
        queued_before = now - timedelta(seconds=self.policy.max_station_wait_s + 60)
        async with self._sessions() as db:
            count = await db.commands.abandon_stale(sent_before, queued_before, now)
            await db.commit()
        if count:
            log.warning("commands abandoned by a stopped instance marked failed", count=count)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

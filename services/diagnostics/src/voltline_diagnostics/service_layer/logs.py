"""Getting logs off stations: a one-time upload location, the GetDiagnostics/GetLog command, the upload, the file.

The location is on this service's HTTP port (`/uploads/{token}`, multipart POST or PUT) or on the embedded
FTP receiver (`ftp://voltline:{token}@host:port/`). A token takes one upload, before it expires. The
station's DiagnosticsStatusNotification / LogStatusNotification are recorded as `station_status`.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from voltline_chassis.logging import get_logger

from voltline_diagnostics.domain.file_names import safe_name
from voltline_diagnostics.service_layer.commands import CommandService, request_id_of
from voltline_diagnostics.service_layer.maintenance_ports import CommandRecord, FileStorage, LogUpload, MaintenanceStore

log = get_logger(__name__)

FTP_USER = "voltline"


class UploadRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Locations:
    http_base: str
    ftp_base: str | None  # ftp://host:port, when the receiver runs

    def for_upload(self, transport: str, token: str) -> str:
        if transport == "ftp":
            if self.ftp_base is None:
                raise ValueError("the FTP receiver is switched off (VOLTLINE_FTP_ENABLED)")
            host = self.ftp_base.removeprefix("ftp://")
            return f"ftp://{FTP_USER}:{token}@{host}/"
        return f"{self.http_base.rstrip('/')}/uploads/{token}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class LogService:
    def __init__(
        self,
        sessions: MaintenanceStore,
        commands: CommandService,
        storage: FileStorage,
        locations: Locations,
        clock: Callable[[], datetime],
        *,
        token_ttl: timedelta,
        retention: timedelta,
        max_bytes: int,
    ) -> None:
        self._sessions, self.commands, self.storage, self.locations = sessions, commands, storage, locations
        self._clock, self._ttl, self._retention, self.max_bytes = clock, token_ttl, retention, max_bytes

    async def request(
        self,
        station_id: str,
        params: dict[str, Any],
        requested_by: str,
        wait_for_station_s: float | None = None,
    ) -> tuple[LogUpload, asyncio.Task[CommandRecord] | CommandRecord]:
        """Record the upload, then send the command (CommandNotPossible / ValueError for impossible requests)."""
        transport = params["transport"]
        token = secrets.token_urlsafe(24)
        location = self.locations.for_upload(transport, token)
        command_id = str(uuid.uuid4())
        now = self._clock()
        record = LogUpload(
            log_id=str(uuid.uuid4()),
            station_id=station_id,
            log_type=params["log_type"],
            request_id=request_id_of(command_id),
            transport=transport,
            token=token,
            command_id=command_id,
            status="requested",
            station_status=None,
            file_name=None,
            size_bytes=None,
            sha256=None,
            requested_by=requested_by,
            created_at=now,
            token_expires_at=now + self._ttl,
            uploaded_at=None,
        )
        async with self._sessions() as db:
            await db.logs.add(record)
            await db.commit()
        command_params = {k: v for k, v in params.items() if k != "transport"} | {"location": location}
        outcome = await self.commands.submit(
            station_id,
            "get-log",
            command_params,
            requested_by,
            wait_for_station_s=wait_for_station_s,
            command_id=command_id,
        )
        return record, outcome

    async def settle(self, record: LogUpload, command: CommandRecord) -> LogUpload:
        """A refused or failed command means no upload will come: say so on the record."""
        if command.status in ("accepted", "queued", "sent"):
            return record
        async with self._sessions() as db:
            current = await db.logs.get(record.log_id)
            if current is not None and current.status == "requested":
                await db.logs.update(record.log_id, status="not_requested")
                await db.commit()
                return replace(current, status="not_requested")
        return current or record

    async def accept(self, token: str, file_name: str | None, temp: Path, size: int) -> LogUpload:
        """Store an upload that arrived for `token` (the temp file is moved or removed)."""
        try:
            async with self._sessions() as db:
                repo = db.logs
                record = await repo.by_token(token)
                if record is None:
                    raise UploadRefused(404, "unknown upload location")
                if record.uploaded_at is not None:
                    raise UploadRefused(410, "this upload location was already used")
                if record.token_expires_at < self._clock():
                    raise UploadRefused(410, "this upload location has expired")
                name = safe_name(file_name or f"{record.station_id}-{record.log_type}.log")
                digest = await asyncio.to_thread(_sha256, temp)
                stored = replace(
                    record, file_name=name, size_bytes=size, sha256=digest, uploaded_at=self._clock(), status="uploaded"
                )
                await asyncio.to_thread(self.storage.put, stored.storage_key, temp)
                await repo.update(
                    record.log_id,
                    file_name=name,
                    size_bytes=size,
                    sha256=digest,
                    uploaded_at=stored.uploaded_at,
                    status="uploaded",
                )
                await db.commit()
        finally:
            await asyncio.to_thread(temp.unlink, missing_ok=True)
        log.info("log uploaded", log_id=stored.log_id, station_id=stored.station_id, size=size)
        return stored

    async def token_valid(self, token: str) -> bool:
        async with self._sessions() as db:
            record = await db.logs.by_token(token)
        return record is not None and record.uploaded_at is None and record.token_expires_at >= self._clock()

    async def station_status(self, station_id: str, action: str, payload: dict[str, Any]) -> None:
        """DiagnosticsStatusNotification (1.6) or LogStatusNotification (1.6 security extension, 2.x)."""
        status = payload.get("status")
        if not isinstance(status, str):
            return
        request_id = payload.get("requestId") if action == "LogStatusNotification" else None
        async with self._sessions() as db:
            repo = db.logs
            record = await repo.for_notification(station_id, request_id if isinstance(request_id, int) else None)
            if record is None or (status == "Idle" and record.station_status is not None):
                return
            values: dict[str, Any] = {"station_status": status}
            if status in ("UploadFailed", "UploadFailure", "BadMessage", "NotSupportedOperation", "PermissionDenied"):
                if record.uploaded_at is None:
                    values["status"] = "upload_failed"
            await repo.update(record.log_id, **values)
            await db.commit()

    async def get(self, log_id: str) -> LogUpload | None:
        async with self._sessions() as db:
            return await db.logs.get(log_id)

    async def find(self, station_id: str | None, limit: int, offset: int) -> list[LogUpload]:
        async with self._sessions() as db:
            return await db.logs.find(station_id, limit, offset)

    async def purge(self) -> None:
        """Retention: files and records older than the retention period go."""
        before = self._clock() - self._retention
        async with self._sessions() as db:
            repo = db.logs
            old = await repo.older_than(before)
            for record in old:
                if record.file_name is not None:
                    await asyncio.to_thread(self.storage.delete, record.storage_key)
                await repo.remove(record.log_id)
            await db.commit()
        if old:
            log.info("old logs deleted", count=len(old))

"""What the remote-maintenance use cases need from the outside world: the records they keep, the
stations' presence and the file storage, as interfaces (the adapters implement them; maintenance.py wires
them), and the records' shapes.

A use case opens one transaction with `async with store() as db:` and reaches the records through it
(`db.commands`, `db.firmware`, `db.profiles`, `db.logs`); `await db.commit()` keeps what it wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, Protocol


@dataclass(frozen=True)
class CommandRecord:
    command_id: str
    station_id: str
    command: str
    params: dict[str, Any]
    ocpp_version: str | None
    action: str | None
    payload: dict[str, Any] | None
    status: str
    response: dict[str, Any] | None
    detail: str | None
    reboot_required: bool
    requested_by: str
    bulk_id: str | None
    created_at: datetime
    sent_at: datetime | None
    answered_at: datetime | None


@dataclass(frozen=True)
class Firmware:
    firmware_id: str
    version: str
    vendor: str | None
    model: str | None
    url: str | None
    file_name: str | None
    sha256: str | None
    size_bytes: int | None
    signing_certificate: str | None
    signature: str | None
    created_at: datetime

    @property
    def storage_key(self) -> str:
        return f"firmware/{self.firmware_id}/{self.file_name or 'firmware.bin'}"


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    firmware_id: str
    status: str
    canary_size: int
    batch_size: int
    failure_threshold_percent: Decimal
    min_finished: int
    station_timeout_s: int
    force: bool
    reason: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class TargetRow:
    campaign_id: str
    station_id: str
    state: str
    batch: int | None
    request_id: int | None
    command_id: str | None
    from_version: str | None
    last_status: str | None
    reason: str | None
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class StationFirmware:
    station_id: str
    vendor: str | None
    model: str | None
    firmware_version: str | None
    booted_at: datetime | None
    connectors: dict[str, Any]


@dataclass(frozen=True)
class Profile:
    profile_id: str
    model: str | None
    station_ids: list[str] | None
    settings: dict[str, str]
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True)
class Bulk:
    bulk_id: str
    command: str
    params: dict[str, Any]
    selection: dict[str, Any]
    station_ids: list[str]
    requested_by: str
    created_at: datetime


@dataclass(frozen=True)
class LogUpload:
    log_id: str
    station_id: str
    log_type: str
    request_id: int
    transport: str
    token: str
    command_id: str | None
    status: str
    station_status: str | None
    file_name: str | None
    size_bytes: int | None
    sha256: str | None
    requested_by: str
    created_at: datetime
    token_expires_at: datetime
    uploaded_at: datetime | None

    @property
    def storage_key(self) -> str:
        return f"logs/{self.log_id}/{self.file_name or 'upload.bin'}"


@dataclass(frozen=True)
class Presence:
    connected: bool
    ocpp_version: str | None
    gateway_instance: str


class CommandRecords(Protocol):
    async def add(self, record: CommandRecord) -> None: ...
    async def update(self, command_id: str, **values: Any) -> None: ...
    async def get(self, command_id: str) -> CommandRecord | None: ...
    async def find(
        self,
        *,
        station_id: str | None = None,
        status: str | None = None,
        command: str | None = None,
        requested_by: str | None = None,
        bulk_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[CommandRecord]: ...
    async def count_by_status(self, bulk_id: str) -> dict[str, int]: ...
    async def abandon_stale(self, sent_before: datetime, queued_before: datetime, now: datetime) -> int:
        """Commands nobody will record an answer for (their service instance stopped): failed, saying so."""
        ...


class FirmwareRecords(Protocol):
    async def add_firmware(self, firmware: Firmware) -> bool: ...
    async def update_firmware(self, firmware_id: str, **values: Any) -> None: ...
    async def firmware(self, firmware_id: str) -> Firmware | None: ...
    async def all_firmware(self) -> list[Firmware]: ...
    async def add_campaign(self, campaign: Campaign, targets: list[TargetRow]) -> None: ...
    async def campaign(self, campaign_id: str, *, lock: bool = False) -> Campaign | None: ...
    async def campaigns(self, statuses: frozenset[str] | None = None) -> list[Campaign]: ...
    async def set_campaign(self, campaign_id: str, **values: Any) -> None: ...
    async def targets(self, campaign_id: str) -> list[TargetRow]: ...
    async def set_target(
        self, campaign_id: str, station_id: str, *, only_in: tuple[str, ...] = (), **values: Any
    ) -> bool: ...
    async def active_targets_of(self, station_id: str, states: frozenset[str]) -> list[TargetRow]: ...
    async def station(self, station_id: str) -> StationFirmware | None: ...
    async def stations(self, model: str | None, versions: list[str] | None) -> list[StationFirmware]: ...
    async def booted(self, station_id: str, vendor: str, model: str, version: str | None, at: datetime) -> None: ...
    async def connector(self, station_id: str, connector: str, status: str) -> None: ...
    async def connectors_many(self, latest: dict[str, dict[str, str]]) -> None:
        """`latest[station][connector] = status` for many stations at once."""
        ...


class ProfileRecords(Protocol):
    async def put(self, profile: Profile) -> None: ...
    async def get(self, profile_id: str) -> Profile | None: ...
    async def all(self) -> list[Profile]: ...
    async def remove(self, profile_id: str) -> bool: ...
    async def report(self, station_id: str, values: dict[str, tuple[str | None, bool]], at: datetime) -> None: ...
    async def reported(self, station_id: str) -> dict[str, tuple[str | None, bool]]: ...
    async def rebooted(self, station_id: str) -> None: ...
    async def add_bulk(self, bulk: Bulk) -> None: ...
    async def bulk(self, bulk_id: str) -> Bulk | None: ...


class LogUploads(Protocol):
    async def add(self, record: LogUpload) -> None: ...
    async def update(self, log_id: str, **values: Any) -> None: ...
    async def get(self, log_id: str) -> LogUpload | None: ...
    async def by_token(self, token: str) -> LogUpload | None: ...
    async def for_notification(self, station_id: str, request_id: int | None) -> LogUpload | None:
        """The request a status notification is about: by requestId, or (1.6 GetDiagnostics) the newest."""
        ...

    async def find(self, station_id: str | None, limit: int, offset: int) -> list[LogUpload]: ...
    async def older_than(self, before: datetime) -> list[LogUpload]: ...
    async def remove(self, log_id: str) -> None: ...


class MaintenanceTx(Protocol):
    """One transaction over the maintenance records."""

    commands: CommandRecords
    firmware: FirmwareRecords
    profiles: ProfileRecords
    logs: LogUploads

    async def commit(self) -> None: ...


MaintenanceStore = Callable[[], AbstractAsyncContextManager[MaintenanceTx]]


class OnlineStations(Protocol):
    """Which gateway holds which station right now (followed from the presence topic)."""

    def get(self, station_id: str) -> Presence | None: ...
    def online(self) -> dict[str, Presence]: ...
    async def wait_online(self, station_id: str, timeout: float) -> Presence | None: ...  # noqa: ASYNC109


class FileStorage(Protocol):
    """Where uploaded logs and firmware images are kept."""

    def incoming(self) -> Path: ...
    def put(self, key: str, source: Path) -> None: ...
    def open(self, key: str) -> BinaryIO: ...
    def path(self, key: str) -> Path | None: ...
    def size(self, key: str) -> int: ...
    def delete(self, key: str) -> None: ...

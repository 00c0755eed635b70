"""The maintenance records over the database: one session per transaction (service_layer.maintenance_ports)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voltline_diagnostics.adapters.command_records import CommandRecords
from voltline_diagnostics.adapters.firmware_records import FirmwareRecords
from voltline_diagnostics.adapters.log_records import LogUploads
from voltline_diagnostics.adapters.profile_records import ProfileRecords
from voltline_diagnostics.service_layer import maintenance_ports as ports


class SqlMaintenanceTx:
    """A session and the records bound to it; leaving without commit() rolls back (the session closes)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self.commands: ports.CommandRecords = CommandRecords(session)
        self.firmware: ports.FirmwareRecords = FirmwareRecords(session)
        self.profiles: ports.ProfileRecords = ProfileRecords(session)
        self.logs: ports.LogUploads = LogUploads(session)

    async def commit(self) -> None:
        await self._session.commit()


def sql_maintenance_store(sessions: async_sessionmaker[AsyncSession]) -> ports.MaintenanceStore:
    @asynccontextmanager
    async def transaction() -> AsyncIterator[ports.MaintenanceTx]:
        async with sessions() as session:
            yield SqlMaintenanceTx(session)

    return transaction

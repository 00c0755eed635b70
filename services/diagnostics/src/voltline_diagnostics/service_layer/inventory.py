"""Asking stations what they are: 2.x GetBaseReport (the device model then arrives as NotifyReport events),
1.6 GetConfiguration (its answer is the snapshot). After a station's first boot (setting
VOLTLINE_INVENTORY_ON_FIRST_BOOT, a few seconds later so the boot is answered first) and on demand."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any, Protocol

import structlog

from voltline_diagnostics.service_layer.context import HealthContext
from voltline_diagnostics.service_layer.ports import Answer

log = structlog.get_logger()


class Commands(Protocol):
    async def ask(self, station_id: str, action: str, payload: dict[str, Any], ocpp_version: str | None) -> Answer:
        """Send one command to the station; its outcome."""


def configuration_rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """1.6 GetConfiguration.conf configurationKey entries as inventory rows."""
    return [
        {
            "key": f"Configuration.{k['key']}#Actual"[:400],
            "component": "Configuration",
            "component_instance": None,
            "evse_id": None,
            "connector_id": None,
            "variable": k["key"][:50],
            "variable_instance": None,
            "attribute_type": "Actual",
            "value": k.get("value"),
            "mutability": "ReadOnly" if k.get("readonly") else "ReadWrite",
            "data_type": None,
            "unit": None,
            "source": "GetConfiguration",
        }
        for k in answer.get("configurationKey", [])
    ]


async def request_inventory(ctx: HealthContext, commands: Commands, station_id: str) -> dict[str, Any]:
    async with ctx.uow() as uow:
        station = await uow.status.station(station_id)
        if station is None:
            return {"outcome": "unknown_station"}
        # Only the one column: a consumer batch may commit the station's boot answer between this read and
        # this write (it locks the row; this read does not), and writing back the whole row read here undid it.
        await uow.status.mark_report_requested(station_id, ctx.clock())
        await uow.commit()
    version = station.ocpp_version
    if version == "ocpp1.6":
        answer = await commands.ask(station_id, "GetConfiguration", {}, version)
        if answer.outcome == "answered" and answer.payload is not None:
            async with ctx.uow() as uow:
                await uow.inventory.put_variables(station_id, configuration_rows(answer.payload), ctx.clock())
                await uow.commit()
        return {"action": "GetConfiguration", "outcome": answer.outcome, "error": answer.error}
    request = {"requestId": random.randint(1, 2**31 - 1), "reportBase": "FullInventory"}
    answer = await commands.ask(station_id, "GetBaseReport", request, version)
    status = (answer.payload or {}).get("status")
    return {"action": "GetBaseReport", "outcome": answer.outcome, "status": status, "error": answer.error}


async def run_first_boot_inventory(ctx: HealthContext, commands: Commands, interval: float, delay: float) -> None:
    """Ask every station booted at least `delay` seconds ago and never asked, one at a time."""
    while True:
        try:
            async with ctx.uow() as uow:
                due = await uow.status.never_inventoried(ctx.clock() - timedelta(seconds=delay))
            for station_id in due:
                result = await request_inventory(ctx, commands, station_id)
                log.info("inventory requested", station_id=station_id, **result)
        except Exception:
            log.exception("inventory round failed")
        await asyncio.sleep(interval)

"""Inventory: what each station is (boot data, device model) and fleet counts by model and firmware."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from voltline_chassis.schemas import Items, returns
from voltline_chassis.security import require_role

from voltline_diagnostics.adapters.views import iso
from voltline_diagnostics.entrypoints.api_status import not_found
from voltline_diagnostics.entrypoints.schemas.inventory import (
    FirmwareCountOut,
    InventoryOut,
    ModelCountOut,
    RefreshOut,
    VariableOut,
)
from voltline_diagnostics.service_layer.context import HealthContext
from voltline_diagnostics.service_layer.inventory import Commands, request_inventory


def _inventory(st: dict[str, Any], variables: int) -> dict[str, Any]:
    return {
        "station_id": st["station_id"],
        "ocpp_version": st["ocpp_version"],
        "vendor": st["vendor"],
        "model": st["model"],
        "serial_number": st["serial_number"],
        "firmware_version": st["firmware_version"],
        "modem": st["modem"],
        "meter": st["meter"],
        "last_boot_at": iso(st["last_boot_at"]),
        "boot_reason": st["boot_reason"],
        "device_model_variables": variables,
    }


def build_router(ctx: HealthContext, commands: Commands) -> APIRouter:
    router = APIRouter(tags=["inventory"], dependencies=[Depends(require_role("viewer"))])

    @router.get("/inventory", **returns(Items[InventoryOut]))
    async def fleet_inventory(
        vendor: str | None = None, model: str | None = None, firmware_version: str | None = None
    ) -> dict[str, Any]:
        """Stations by vendor, model or firmware version."""
        async with ctx.uow() as uow:
            found = await uow.inventory.stations(vendor=vendor, model=model, firmware_version=firmware_version)
        return {"items": [_inventory(s, 0) | {"device_model_variables": None} for s in found]}

    @router.get("/inventory/models", **returns(Items[ModelCountOut]))
    async def per_model() -> dict[str, Any]:
        async with ctx.uow() as uow:
            rows = await uow.inventory.counts("model")
        return {"items": [{"vendor": v, "model": m, "stations": n} for v, m, n in rows]}

    @router.get("/inventory/firmware", **returns(Items[FirmwareCountOut]))
    async def per_firmware() -> dict[str, Any]:
        async with ctx.uow() as uow:
            rows = await uow.inventory.counts("firmware")
        return {"items": [{"vendor": v, "model": m, "firmware_version": f, "stations": n} for v, m, f, n in rows]}

    @router.get("/stations/{station_id}/inventory", **returns(InventoryOut))
    async def station_inventory(station_id: str) -> dict[str, Any]:
        async with ctx.uow() as uow:
            found = await uow.inventory.stations(station_id=station_id)
            st = found[0] if found else None
            variables = await uow.inventory.variables(station_id) if st else []
        if st is None:
            raise not_found(station_id)
        return _inventory(st, len(variables))

    @router.post(
        "/stations/{station_id}/inventory/refresh",
        dependencies=[Depends(require_role("operator"))],
        **returns(RefreshOut),
    )
    async def refresh(station_id: str) -> dict[str, Any]:
        """Ask the station now: 2.x GetBaseReport (the report arrives as NotifyReport), 1.6 GetConfiguration."""
        result = await request_inventory(ctx, commands, station_id)
        if result["outcome"] == "unknown_station":
            raise not_found(station_id)
        return result

    @router.get("/stations/{station_id}/device-model", **returns(Items[VariableOut]))
    async def device_model(station_id: str, component: str | None = None) -> dict[str, Any]:
        """The station's components and variables as last reported (2.x NotifyReport)."""
        async with ctx.uow() as uow:
            rows = await uow.inventory.variables(station_id, component)
        return {
            "items": [
                {
                    "component": r["component"],
                    "component_instance": r["component_instance"],
                    "evse_id": r["evse_id"],
                    "connector_id": r["connector_id"],
                    "variable": r["variable"],
                    "variable_instance": r["variable_instance"],
                    "attribute_type": r["attribute_type"],
                    "value": r["value"],
                    "mutability": r["mutability"],
                    "data_type": r["data_type"],
                    "unit": r["unit"],
                    "source": r["source"],
                    "updated_at": iso(r["updated_at"]),
                }
                for r in rows
            ]
        }

    return router

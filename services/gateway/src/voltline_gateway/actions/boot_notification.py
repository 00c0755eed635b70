"""BootNotification (all versions): publish the boot, ask the auth service whether the station may join."""

from __future__ import annotations

from typing import Any

from voltline_events.payloads import BootDecision, BootDecisionRequested, BootNotification

from voltline_gateway.actions.context import CallContext, now_rfc3339
from voltline_gateway.domain.ocpp_j import OCPP16


def normalise(ocpp_version: str, payload: dict[str, Any]) -> BootNotification:
    """One event shape for every version; the original payload rides along in `raw`."""
    if ocpp_version == OCPP16:
        return BootNotification(
            ocpp_version=ocpp_version,
            vendor=payload["chargePointVendor"],
            model=payload["chargePointModel"],
            serial_number=payload.get("chargePointSerialNumber") or payload.get("chargeBoxSerialNumber"),
            firmware_version=payload.get("firmwareVersion"),
            raw=payload,
        )
    station = payload["chargingStation"]
    return BootNotification(
        ocpp_version=ocpp_version,  # type: ignore[arg-type]
        vendor=station["vendorName"],
        model=station["model"],
        serial_number=station.get("serialNumber"),
        firmware_version=station.get("firmwareVersion"),
        reason=payload.get("reason"),
        raw=payload,
    )


async def handle(ctx: CallContext, payload: dict[str, Any]) -> dict[str, Any]:
    boot = normalise(ctx.ocpp_version, payload)
    await ctx.bus.publish(boot, station_id=ctx.station_id, message_id=ctx.message_id)
    request = BootDecisionRequested(
        ocpp_version=boot.ocpp_version, vendor=boot.vendor, model=boot.model, serial_number=boot.serial_number
    )
    answer = await ctx.bus.ask_auth(request, station_id=ctx.station_id, message_id=ctx.message_id)
    if isinstance(answer, BootDecision):
        status, interval = answer.status, answer.interval
    else:
        status, interval = ctx.boot_fallback.status, ctx.boot_fallback.interval
    return {"status": status, "currentTime": now_rfc3339(), "interval": interval}

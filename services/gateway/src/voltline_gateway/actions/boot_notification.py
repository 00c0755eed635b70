"""BootNotification (all versions): publish the boot, ask the auth service whether the station may join.

Fallback when auth is late: policy.boot (VOLTLINE_BOOT_FALLBACK_STATUS, default Pending, retry after
VOLTLINE_BOOT_FALLBACK_INTERVAL_S): the station retries its boot and sends nothing else meanwhile.
"""

from __future__ import annotations

from typing import Any

from voltline_events.payloads import BootAnswered, BootDecision, BootDecisionRequested, BootNotification

from voltline_gateway.actions.context import CallContext, now_rfc3339
from voltline_gateway.actions.decisions import publish_and_ask, tell
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
        ocpp_version=ocpp_version,
        vendor=station["vendorName"],
        model=station["model"],
        serial_number=station.get("serialNumber"),
        firmware_version=station.get("firmwareVersion"),
        reason=payload.get("reason"),
        raw=payload,
    )


async def handle(ctx: CallContext, payload: dict[str, Any]) -> dict[str, Any]:
    boot = normalise(ctx.ocpp_version, payload)
    request = BootDecisionRequested(
        ocpp_version=boot.ocpp_version, vendor=boot.vendor, model=boot.model, serial_number=boot.serial_number
    )
    answer = await publish_and_ask(ctx, boot, request)
    status: str
    if isinstance(answer, BootDecision):
        status, interval = answer.status, answer.interval
    else:
        status, interval = ctx.policy.boot.status, ctx.policy.boot.interval
    if ctx.link is not None:
        ctx.link.booted(boot.vendor, boot.model, status)
    fallback = not isinstance(answer, BootDecision)
    tell(ctx, BootAnswered(ocpp_version=boot.ocpp_version, status=status, interval=interval, fallback=fallback))
    return {"status": status, "currentTime": now_rfc3339(), "interval": interval}

"""DataTransfer (all versions): published; Accepted for the vendor ids configured as handled by some service
(VOLTLINE_DATA_TRANSFER_VENDORS), UnknownVendorId for the others, as OCPP prescribes."""

from __future__ import annotations

from typing import Any

from voltline_events.payloads import StationMessage

from voltline_gateway.actions.context import CallContext


async def handle(ctx: CallContext, payload: dict[str, Any]) -> dict[str, Any]:
    event = StationMessage(ocpp_version=ctx.ocpp_version, action="DataTransfer", payload=payload)  # type: ignore[arg-type]
    await ctx.bus.publish(event, station_id=ctx.station_id, message_id=ctx.message_id)
    known = payload["vendorId"] in ctx.policy.data_transfer_vendors
    return {"status": "Accepted" if known else "UnknownVendorId"}

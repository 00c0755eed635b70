"""DataTransfer (all versions): published as station.data_transfer; Accepted for the vendor ids configured as
handled by some service (VOLTLINE_DATA_TRANSFER_VENDORS), UnknownVendorId for the others, as OCPP prescribes."""

from __future__ import annotations

from typing import Any

from voltline_gateway.actions.context import CallContext
from voltline_gateway.domain.notifications import data_transfer


async def handle(ctx: CallContext, payload: dict[str, Any]) -> dict[str, Any]:
    event = data_transfer(ctx.ocpp_version, payload)
    await ctx.bus.publish(event, station_id=ctx.station_id, message_id=ctx.message_id)
    known = payload["vendorId"] in ctx.policy.data_transfer_vendors
    return {"status": "Accepted" if known else "UnknownVendorId"}

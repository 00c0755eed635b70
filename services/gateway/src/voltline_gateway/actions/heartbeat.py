"""Heartbeat (all versions): answered with the CSMS's clock once the beat is on the bus."""

from __future__ import annotations

from typing import Any

from voltline_events.payloads import Heartbeat

from voltline_gateway.actions.context import CallContext, now_rfc3339


async def handle(ctx: CallContext, payload: dict[str, Any]) -> dict[str, Any]:
    event = Heartbeat(ocpp_version=ctx.ocpp_version)
    await ctx.bus.publish(event, station_id=ctx.station_id, message_id=ctx.message_id)
    return {"currentTime": now_rfc3339()}

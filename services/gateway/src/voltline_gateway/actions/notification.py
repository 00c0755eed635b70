"""Notifications that need no decision: published as they are, answered with an empty confirmation."""

from __future__ import annotations

from typing import Any

from voltline_events.payloads import StationMessage

from voltline_gateway.actions.context import CallContext


async def handle(ctx: CallContext, payload: dict[str, Any], *, action: str) -> dict[str, Any]:
    event = StationMessage(ocpp_version=ctx.ocpp_version, action=action, payload=payload)  # type: ignore[arg-type]
    await ctx.bus.publish(event, station_id=ctx.station_id, message_id=ctx.message_id)
    return {}

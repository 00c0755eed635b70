"""Heartbeat (all versions): answered with the CSMS's clock once the beat is on the bus."""

from __future__ import annotations

from functools import cache
from typing import Any

from voltline_events.payloads import Heartbeat

from voltline_gateway.actions.context import CallContext, now_rfc3339
from voltline_gateway.domain.normalise import Prepared


@cache
def beat(ocpp_version: str) -> Prepared:
    """The heartbeat event of a version, made once: its payload is the version alone (no model per beat)."""
    return Prepared(Heartbeat, {"ocpp_version": ocpp_version})


async def handle(ctx: CallContext, payload: dict[str, Any]) -> dict[str, Any]:
    await ctx.bus.publish(beat(ctx.ocpp_version), station_id=ctx.station_id, message_id=ctx.message_id)
    return {"currentTime": now_rfc3339()}

"""Calls that need no decision: published as their typed event (domain.notifications.TYPED: firmware and log
status, security events, NotifyEvent, NotifyReport) or, for the rest, as station.message; then answered.

Most are answered with an empty confirmation; a few have a fixed answer (see `answered_with`), chosen to be
truthful about what voltline does today (e.g. no smart-charging schedule, no certificate signing).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from voltline_events.payloads import StationMessage

from voltline_gateway.actions.context import CallContext, Handler
from voltline_gateway.domain.notifications import TYPED

Answer = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]


async def handle(
    ctx: CallContext, payload: dict[str, Any], *, action: str, answer: Answer | None = None
) -> dict[str, Any]:
    typed = TYPED.get(action)
    if typed is not None:
        event = typed(ctx.ocpp_version, payload)
    else:
        event = StationMessage(ocpp_version=ctx.ocpp_version, action=action, payload=payload)
    await ctx.bus.publish(event, station_id=ctx.station_id, message_id=ctx.message_id)
    if answer is None:
        return {}
    return answer(payload) if callable(answer) else dict(answer)


def notify(action: str) -> Handler:
    """Publish and confirm with {}."""
    return partial(handle, action=action)


def answered_with(action: str, answer: Answer) -> Handler:
    """Publish and answer with a fixed payload (or one made from the request)."""
    return partial(handle, action=action, answer=answer)

"""TransactionEvent (2.0.1, 2.1): published as a station.transaction; when it carries an idToken the auth
service decides its idTokenInfo (fallback: policy.auth.transaction_event)."""

from __future__ import annotations

from typing import Any

from voltline_events.payloads.transactions import IdToken

from voltline_gateway.actions.context import CallContext
from voltline_gateway.actions.decisions import publish_and_authorize_transaction, publish_refusal
from voltline_gateway.domain.normalise import transaction_event


async def handle(ctx: CallContext, payload: dict[str, Any]) -> dict[str, Any]:
    event = transaction_event(ctx.ocpp_version, payload)
    token = payload.get("idToken")
    if token is None:
        await ctx.bus.publish(event, station_id=ctx.station_id, message_id=ctx.message_id)
        return {}
    decision = await publish_and_authorize_transaction(
        ctx,
        event,
        IdToken(id_token=token["idToken"], type=token["type"]),
        "transaction_event",
        ctx.policy.auth.transaction_event,
        evse_id=event.payload.get("evse_id"),
        transaction_id=event.payload["transaction_id"],
    )
    if payload["eventType"] != "Ended":  # a refused stop token does not undo a transaction that has ended
        refused_token = IdToken(id_token=token["idToken"], type=token["type"])
        transaction_id = event.payload["transaction_id"]
        await publish_refusal(ctx, decision, refused_token, transaction_id, payload["timestamp"])
    return {"idTokenInfo": decision.id_token_info()}

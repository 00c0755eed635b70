"""StopTransaction (1.6): published as the end of the transaction (with its transactionData readings); an idTag
is checked by the auth service (fallback: policy.auth.stop_transaction; by default idTagInfo is left out)."""

from __future__ import annotations

from typing import Any

from voltline_events.payloads.transactions import IdToken

from voltline_gateway.actions.context import CallContext
from voltline_gateway.actions.decisions import publish_and_authorize, with_driver
from voltline_gateway.domain.normalise import stop_transaction_16


async def handle(ctx: CallContext, payload: dict[str, Any]) -> dict[str, Any]:
    event = stop_transaction_16(payload)
    if not payload.get("idTag"):
        await ctx.bus.publish(event, station_id=ctx.station_id, message_id=ctx.message_id)
        return {}
    # The stop's driver, when the published decisions know it (ADR 0024): a session whose start never arrived
    # is reconciled from its stop and takes the stop's token; no waiting for auth for it.
    known = ctx.decisions.decision(payload["idTag"], "ISO14443", ctx.ocpp_version) if ctx.decisions else None
    decision = await publish_and_authorize(
        ctx,
        with_driver(event, known.driver_id if known else None),
        IdToken(id_token=payload["idTag"]),
        "stop_transaction",
        ctx.policy.auth.stop_transaction,
        transaction_id=str(payload["transactionId"]),
    )
    return {} if decision is None else {"idTagInfo": decision.id_tag_info()}

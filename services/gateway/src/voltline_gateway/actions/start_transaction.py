"""StartTransaction (1.6): the CSMS assigns the transaction id (deterministic, so retries get the same one),
publishes the start and asks the auth service about the idTag (fallback: policy.auth.start_transaction)."""

from __future__ import annotations

from typing import Any

from voltline_events.payloads.transactions import IdToken

from voltline_gateway.actions.context import CallContext
from voltline_gateway.actions.decisions import publish_and_authorize_transaction, publish_refusal
from voltline_gateway.domain.normalise import start_transaction_16
from voltline_gateway.domain.transaction_id import transaction_id_16


async def handle(ctx: CallContext, payload: dict[str, Any]) -> dict[str, Any]:
    transaction_id = transaction_id_16(
        ctx.station_id, payload["connectorId"], payload["timestamp"], payload["meterStart"], payload["idTag"]
    )
    event = start_transaction_16(payload, transaction_id)
    decision = await publish_and_authorize_transaction(
        ctx,
        event,
        IdToken(id_token=payload["idTag"]),
        "start_transaction",
        ctx.policy.auth.start_transaction,
        evse_id=payload["connectorId"],
        transaction_id=str(transaction_id),
    )
    await publish_refusal(ctx, decision, IdToken(id_token=payload["idTag"]), str(transaction_id), event.timestamp)
    return {"transactionId": transaction_id, "idTagInfo": decision.id_tag_info()}

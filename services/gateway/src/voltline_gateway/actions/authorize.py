"""Authorize (all versions): published as station.authorize, then decided by the auth service
(fallback: policy.auth.authorize); the answer follows as station.authorize_answered."""

from __future__ import annotations

from typing import Any

from voltline_events.payloads import AuthorizeAnswered, AuthorizeRequested
from voltline_events.payloads.transactions import IdToken

from voltline_gateway.actions.context import CallContext
from voltline_gateway.actions.decisions import publish_and_authorize, tell
from voltline_gateway.domain.ocpp_j import OCPP16


async def handle(ctx: CallContext, payload: dict[str, Any]) -> dict[str, Any]:
    if ctx.ocpp_version == OCPP16:
        token = IdToken(id_token=payload["idTag"])
    else:
        token = IdToken(id_token=payload["idToken"]["idToken"], type=payload["idToken"]["type"])
    event = AuthorizeRequested(ocpp_version=ctx.ocpp_version, id_token=token)
    decision = await publish_and_authorize(ctx, event, token, "authorize", ctx.policy.auth.authorize)
    assert decision is not None  # the authorize fallback is always a status
    tell(ctx, AuthorizeAnswered(ocpp_version=ctx.ocpp_version, status=decision.status))
    if ctx.ocpp_version == OCPP16:
        return {"idTagInfo": decision.id_tag_info()}
    return {"idTokenInfo": decision.id_token_info()}

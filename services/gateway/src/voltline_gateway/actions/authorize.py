"""Authorize (all versions): published as station.authorize, then answered from the auth service's published
decisions when they cover the token (ADR 0015), else decided by the auth service (fallback:
policy.auth.authorize); the answer follows as station.authorize_answered.

A local answer does not wait for the broker (ADR 0015, addendum): both events are queued at once, in order,
through the same writer (and spool), and a failure is logged; the events are an audit record, nothing is
decided from their acknowledgement. An answer asked of auth still waits for its event to be stored.
"""

from __future__ import annotations

import time
from typing import Any

from voltline_events.payloads import AuthorizationRequested, AuthorizeAnswered, AuthorizeRequested
from voltline_events.payloads.transactions import IdToken

from voltline_gateway.actions.context import CallContext
from voltline_gateway.actions.decisions import publish_and_authorize, tell
from voltline_gateway.domain.ocpp_j import OCPP16
from voltline_gateway.metrics import decision as decision_metric


async def handle(ctx: CallContext, payload: dict[str, Any]) -> dict[str, Any]:
    if ctx.ocpp_version == OCPP16:
        token = IdToken(id_token=payload["idTag"])
    else:
        token = IdToken(id_token=payload["idToken"]["idToken"], type=payload["idToken"]["type"])
    event = AuthorizeRequested(ocpp_version=ctx.ocpp_version, id_token=token)
    started = time.perf_counter()
    decision = ctx.decisions.decision(token.id_token, token.type, ctx.ocpp_version) if ctx.decisions else None
    if decision is not None:
        tell(ctx, event)  # queued now, ahead of the answer's event; not awaited
        decision_metric(AuthorizationRequested.TYPE, "local").observe(time.perf_counter() - started)
        tell(ctx, AuthorizeAnswered(ocpp_version=ctx.ocpp_version, status=decision.status, local=True, id_token=token))
    else:
        decision = await publish_and_authorize(ctx, event, token, "authorize", ctx.policy.auth.authorize)
        assert decision is not None  # the authorize fallback is always a status
        tell(ctx, AuthorizeAnswered(ocpp_version=ctx.ocpp_version, status=decision.status))
    if ctx.ocpp_version == OCPP16:
        return {"idTagInfo": decision.id_tag_info()}
    return {"idTokenInfo": decision.id_token_info()}

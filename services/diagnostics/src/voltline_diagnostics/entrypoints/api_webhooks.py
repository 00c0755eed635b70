"""Webhook subscriptions, their delivery log and a test delivery."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from fastapi import APIRouter, Depends
from pydantic import AnyHttpUrl, BaseModel, Field, field_validator
from voltline_chassis.problems import Problem
from voltline_chassis.schemas import Items, returns
from voltline_chassis.security import OperatorPrincipal, require_role

from voltline_diagnostics.adapters.views import iso
from voltline_diagnostics.domain.alerts import DEFAULT_RULES, SEVERITIES
from voltline_diagnostics.entrypoints.schemas.status import DeliveryOut, TestDeliveryOut, WebhookOut
from voltline_diagnostics.service_layer.context import HealthContext
from voltline_diagnostics.service_layer.webhooks import queue_test


class WebhookIn(BaseModel):
    url: AnyHttpUrl
    secret: str = Field(min_length=16, max_length=255, description="Shared secret for the HMAC-SHA256 signature.")
    rules: list[str] = Field(default_factory=list, description="Only these rules (empty: all).")
    severities: list[str] = Field(default_factory=list, description="Only these severities (empty: all).")
    station_ids: list[str] = Field(default_factory=list, description="Only these stations (empty: all).")

    @field_validator("rules")
    @classmethod
    def _rules(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(DEFAULT_RULES))
        if unknown:
            raise ValueError(f"unknown rule(s) {', '.join(unknown)}; known: {', '.join(sorted(DEFAULT_RULES))}")
        return value

    @field_validator("severities")
    @classmethod
    def _severities(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(SEVERITIES))
        if unknown:
            raise ValueError(f"unknown severit(ies) {', '.join(unknown)}; known: {', '.join(SEVERITIES)}")
        return value


def _out(hook: dict[str, Any]) -> dict[str, Any]:
    """Never the secret."""
    return {
        "webhook_id": hook["webhook_id"],
        "url": hook["url"],
        "rules": hook["rules"],
        "severities": hook["severities"],
        "station_ids": hook["station_ids"],
        "active": hook["active"],
        "created_at": iso(hook["created_at"]),
        "created_by": hook["created_by"],
    }


def _delivery(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "delivery_id": d["delivery_id"],
        "event_type": d["event_type"],
        "alert_id": d["alert_id"],
        "status": d["status"],
        "attempts": d["attempts"],
        "last_status_code": d["last_status_code"],
        "last_error": d["last_error"],
        "created_at": iso(d["created_at"]),
        "next_attempt_at": iso(d["next_attempt_at"]) if d["status"] == "pending" else None,
        "delivered_at": iso(d["delivered_at"]),
    }


def build_router(ctx: HealthContext) -> APIRouter:
    router = APIRouter(tags=["webhooks"])
    viewer = [Depends(require_role("viewer"))]

    async def _get(webhook_id: str) -> dict[str, Any]:
        async with ctx.uow() as uow:
            hook = await uow.webhooks.get(webhook_id)
        if hook is None:
            raise Problem(404, f"No webhook {webhook_id!r}.", extra={"webhook_id": webhook_id})
        return hook

    @router.post("/webhooks", status_code=201, **returns(WebhookOut))
    async def create(body: WebhookIn, who: OperatorPrincipal) -> dict[str, Any]:
        """Subscribe: alert changes are POSTed as JSON, signed `X-Voltline-Signature: t=..,v1=<hmac>`."""
        values = {
            "webhook_id": str(uuid4()),
            "url": str(body.url),
            "secret": body.secret,
            "rules": body.rules,
            "severities": body.severities,
            "station_ids": body.station_ids,
            "active": True,
            "created_at": ctx.clock(),
            "created_by": who.subject,
        }
        async with ctx.uow() as uow:
            await uow.webhooks.add(**values)
            await uow.commit()
        return _out(values)

    @router.get("/webhooks", dependencies=viewer, **returns(Items[WebhookOut]))
    async def list_webhooks() -> dict[str, Any]:
        async with ctx.uow() as uow:
            return {"items": [_out(h) for h in await uow.webhooks.all()]}

    @router.get("/webhooks/{webhook_id}", dependencies=viewer, **returns(WebhookOut))
    async def get_webhook(webhook_id: str) -> dict[str, Any]:
        return _out(await _get(webhook_id))

    @router.delete("/webhooks/{webhook_id}", status_code=204)
    async def delete_webhook(webhook_id: str, who: OperatorPrincipal) -> None:
        """Deactivate (its delivery log stays); pending deliveries are failed."""
        await _get(webhook_id)
        async with ctx.uow() as uow:
            await uow.webhooks.deactivate(webhook_id)
            await uow.commit()

    @router.post("/webhooks/{webhook_id}/test", status_code=202, **returns(TestDeliveryOut))
    async def test(webhook_id: str, who: OperatorPrincipal) -> dict[str, Any]:
        """Queue a signed test delivery; its outcome shows in the delivery log."""
        hook = await _get(webhook_id)
        if not hook["active"]:
            raise Problem(409, f"Webhook {webhook_id} is deleted.", extra={"webhook_id": webhook_id})
        return {"delivery_id": await queue_test(ctx, webhook_id)}

    @router.get("/webhooks/{webhook_id}/deliveries", dependencies=viewer, **returns(Items[DeliveryOut]))
    async def deliveries(webhook_id: str) -> dict[str, Any]:
        await _get(webhook_id)
        async with ctx.uow() as uow:
            return {"items": [_delivery(d) for d in await uow.webhooks.log(webhook_id)]}

    return router

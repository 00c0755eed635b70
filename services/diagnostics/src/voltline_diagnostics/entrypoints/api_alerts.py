"""Alerts: list, acknowledge, resolve by hand; the rules in force."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import AwareDatetime, BaseModel, Field
from voltline_chassis.problems import Problem
from voltline_chassis.schemas import Items, returns
from voltline_chassis.security import OperatorPrincipal, Principal, require_role

from voltline_diagnostics.adapters import views
from voltline_diagnostics.adapters.alerts_repo import alert_from_row, search_query
from voltline_diagnostics.domain.alerts import AlertStateError
from voltline_diagnostics.entrypoints.schemas.status import AlertOut, AlertRuleOut
from voltline_diagnostics.service_layer import alerting
from voltline_diagnostics.service_layer.context import HealthContext


class AcknowledgeIn(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


class ResolveIn(BaseModel):
    note: str = Field(min_length=1, max_length=2000, description="Why it is resolved by hand.")


def build_router(ctx: HealthContext) -> APIRouter:
    router = APIRouter(tags=["alerts"])
    viewer = [Depends(require_role("viewer"))]

    @router.get("/alerts", dependencies=viewer, **returns(Items[AlertOut]))
    async def list_alerts(
        station_id: str | None = None,
        status: Literal["open", "acknowledged", "resolved"] | None = None,
        rule: str | None = None,
        severity: Literal["info", "warning", "major", "critical"] | None = None,
        since: AwareDatetime | None = None,
    ) -> dict[str, Any]:
        query = search_query(station_id=station_id, status=status, rule=rule, severity=severity, since=since)
        return {"items": [alerting.alert_json(alert_from_row(r)) for r in await views.rows(ctx, query)]}

    @router.get("/alerts/{alert_id}", dependencies=viewer, **returns(AlertOut))
    async def get_alert(alert_id: str) -> dict[str, Any]:
        async with ctx.uow() as uow:
            alert = await uow.alerts.get(alert_id)
        if alert is None:
            raise Problem(404, f"No alert {alert_id!r}.", extra={"alert_id": alert_id})
        return alerting.alert_json(alert)

    async def _change(alert_id: str, step: str, who: Principal, note: str | None) -> dict[str, Any]:
        async with ctx.uow() as uow:
            alert = await uow.alerts.get(alert_id)
            if alert is None:
                raise Problem(404, f"No alert {alert_id!r}.", extra={"alert_id": alert_id})
            try:
                if step == "acknowledge":
                    alert = alert.acknowledge(who.subject, ctx.clock(), note)
                    await uow.alerts.save(alert)
                    await alerting.notify(ctx, uow, "diagnostics.alert_acknowledged", alert, ctx.clock())
                else:
                    alert = await alerting.resolve(ctx, uow, alert, ctx.clock(), by=who.subject, note=note)
            except AlertStateError as exc:
                raise Problem(409, str(exc), extra={"alert_id": alert_id, "alert_status": alert.status}) from exc
            await uow.commit()
        return alerting.alert_json(alert)

    @router.post("/alerts/{alert_id}/acknowledge", **returns(AlertOut))
    async def acknowledge(alert_id: str, who: OperatorPrincipal, body: AcknowledgeIn | None = None) -> dict[str, Any]:
        """open → acknowledged (who, when). It still resolves by itself when the condition clears."""
        return await _change(alert_id, "acknowledge", who, body.note if body else None)

    @router.post("/alerts/{alert_id}/resolve", **returns(AlertOut))
    async def resolve(alert_id: str, body: ResolveIn, who: OperatorPrincipal) -> dict[str, Any]:
        """Resolve by hand, with a note (e.g. a security event that was investigated)."""
        return await _change(alert_id, "resolve", who, body.note)

    @router.get("/alert-rules", dependencies=viewer, **returns(Items[AlertRuleOut]))
    async def rules() -> dict[str, Any]:
        return {"items": [asdict(r) for r in ctx.rules.values()]}

    return router

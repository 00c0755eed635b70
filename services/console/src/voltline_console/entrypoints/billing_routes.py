"""Billing pages: edit a tariff with a price preview, CDRs, invoices, payments and refunds (with confirmation)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse

from voltline_console.domain.login import LoginSession
from voltline_console.domain.pricing import Preview, preview, simple_values
from voltline_console.entrypoints.rendering import HTML, Forbidden, checked_form, current_user, render
from voltline_console.service_layer import more_views
from voltline_console.service_layer.ports import ServiceApi

Id = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]
User = Annotated[LoginSession, Depends(current_user)]
PRICE_FIELDS = (
    "currency",
    "energy_price_per_kwh",
    "time_price_per_hour",
    "session_fee",
    "idle_price_per_hour",
    "vat_percent",
)
EXAMPLE = {"example_kwh": "20", "example_minutes": "60", "example_idle_minutes": "0"}
PAYMENT_STATES = (
    "",
    "pending_hold",
    "authorizing",
    "authorized",
    "hold_declined",
    "due",
    "capturing",
    "releasing",
    "charging",
    "paid",
    "released",
    "failed",
    "postpaid",
    "unassigned",
)


def _api(request: Request) -> ServiceApi:
    api: ServiceApi = request.app.state.api
    return api


def _example(values: dict[str, str]) -> tuple[Decimal, Decimal, Decimal]:
    try:
        kwh, minutes = Decimal(values["example_kwh"] or 0), Decimal(values["example_minutes"] or 0)
        idle = Decimal(values["example_idle_minutes"] or 0)
    except InvalidOperation:
        return Decimal(20), Decimal(1), Decimal(0)
    return kwh, minutes / 60, idle / 60


def _preview(values: dict[str, str]) -> tuple[Preview | None, dict[str, str]]:
    found = preview(values, *_example(values))
    return (found, {}) if isinstance(found, Preview) else (None, found)


def build_billing_router() -> APIRouter:
    router = APIRouter(tags=["console"], default_response_class=HTMLResponse)

    def edit_page(
        request: Request,
        user: LoginSession,
        tariff_id: str,
        values: dict[str, str],
        errors: dict[str, str],
        status: int = 200,
        **extra: Any,
    ) -> HTMLResponse:
        result, preview_errors = _preview(values)
        ctx = {
            "user": user,
            "nav": "tariffs",
            "tariff_id": tariff_id,
            "values": values,
            "errors": {**preview_errors, **errors},
            "preview": result,
            **extra,
        }
        return render(request, "tariff_edit.html", ctx, status=status)

    @router.get("/tariffs/{tariff_id}/edit", responses=HTML)
    async def edit(request: Request, user: User, tariff_id: Id) -> HTMLResponse:
        if not user.can.write:
            raise Forbidden()
        found = await more_views.tariff(_api(request), user.token, tariff_id)
        values = {**EXAMPLE, **(simple_values(found.data) if found.data else {})}
        return edit_page(request, user, tariff_id, values, {}, problem_detail=found.error)

    @router.post("/tariffs/{tariff_id}/preview", responses=HTML)
    async def price_preview(request: Request, user: User, tariff_id: Id) -> HTMLResponse:
        """The example session's price under the prices typed so far (htmx, as the form changes)."""
        form = await checked_form(request, user, write=False)
        values = {k: form.get(k, "") for k in (*PRICE_FIELDS, *EXAMPLE)}
        result, errors = _preview(values)
        return render(request, "_tariff_preview.html", {"user": user, "preview": result, "errors": errors})

    @router.post("/tariffs/{tariff_id}", responses=HTML)
    async def save(request: Request, user: User, tariff_id: Id) -> HTMLResponse:
        """A new version of the tariff (billing keeps the old ones for sessions already priced)."""
        form = await checked_form(request, user)
        values = {k: form.get(k, "").strip() for k in (*PRICE_FIELDS, *EXAMPLE)}
        body: dict[str, Any] = {k: values[k] for k in PRICE_FIELDS if values[k]}
        body["tariff_id"] = tariff_id
        answer = await more_views.send(_api(request), user.token, "billing", "PUT", f"/tariffs/{tariff_id}", body)
        if answer.ok:
            saved = {**values, **simple_values(answer.body)}
            return edit_page(request, user, tariff_id, saved, {}, saved_version=answer.body.get("version"))
        status = answer.status if answer.status >= 400 else 502
        return edit_page(request, user, tariff_id, values, answer.field_errors(), status, problem_detail=answer.detail)

    @router.get("/cdrs", responses=HTML)
    async def cdrs(request: Request, user: User, station_id: str = "", driver_id: str = "") -> HTMLResponse:
        panel = await more_views.listing(
            _api(request), user.token, "billing", "/cdrs", station_id=station_id.strip(), driver_id=driver_id.strip()
        )
        columns = [
            ("CDR", "cdr_id", None),
            ("Session", "session_id", "link:/sessions/"),
            ("Station", "station_id", "link:/stations/"),
            ("Ended", "ended_at", "when"),
            ("kWh", "energy_kwh", "num"),
            ("Total", "total_incl_vat", "num"),
            ("Currency", "currency", None),
            ("Payment", "payment_state", "badge"),
        ]
        ctx = {
            "user": user,
            "nav": "billing",
            "title": "Charge detail records",
            "panel": panel,
            "columns": columns,
            "list_name": "cdrs",
            "action_url": "/cdrs",
            "query": dict(request.query_params),
            "filters": [("station_id", "Station", ()), ("driver_id", "Driver", ())],
        }
        return render(request, "list_page.html", ctx)

    @router.get("/invoices", responses=HTML)
    async def invoices(request: Request, user: User, driver_id: str = "", period: str = "") -> HTMLResponse:
        panel = await more_views.listing(
            _api(request), user.token, "billing", "/invoices", driver_id=driver_id.strip(), period=period.strip()
        )
        columns = [
            ("Number", "number", None),
            ("Kind", "kind", None),
            ("Driver", "driver_id", None),
            ("Period", "period", None),
            ("Total", "total_incl_vat", "num"),
            ("Currency", "currency", None),
            ("Issued", "issued_at", "when"),
            ("Payment", "payment_status", "badge"),
        ]
        ctx = {
            "user": user,
            "nav": "billing",
            "title": "Invoices",
            "panel": panel,
            "columns": columns,
            "list_name": "invoices",
            "action_url": "/invoices",
            "query": dict(request.query_params),
            "filters": [("driver_id", "Driver", ()), ("period", "Period (YYYY-MM)", ())],
        }
        return render(request, "list_page.html", ctx)

    @router.get("/payments", responses=HTML)
    async def payments(request: Request, user: User, state: str = "", driver_id: str = "") -> HTMLResponse:
        wanted = state if state in PAYMENT_STATES else ""
        panel = await more_views.listing(
            _api(request), user.token, "billing", "/payments", state=wanted, driver_id=driver_id.strip()
        )
        refunds = await more_views.unpaged(_api(request), user.token, "billing", "/refunds")
        columns = [
            ("Payment", "payment_id", "link:/payments/"),
            ("Session", "session_id", "link:/sessions/"),
            ("Driver", "driver_id", None),
            ("Method", "method", None),
            ("State", "state", "badge"),
            ("Captured", "captured", "num"),
            ("Refunded", "refunded", "num"),
            ("Currency", "currency", None),
            ("Updated", "updated_at", "when"),
        ]
        ctx = {
            "user": user,
            "nav": "billing",
            "title": "Payments",
            "panel": panel,
            "columns": columns,
            "list_name": "payments",
            "action_url": "/payments",
            "query": dict(request.query_params),
            "filters": [("state", "State", PAYMENT_STATES), ("driver_id", "Driver", ())],
            "refunds": refunds,
        }
        return render(request, "payments.html", ctx)

    @router.get("/payments/{payment_id}", responses=HTML)
    async def payment(request: Request, user: User, payment_id: Id) -> HTMLResponse:
        found = await more_views.one(_api(request), user.token, "billing", f"/payments/{payment_id}")
        ctx = {"user": user, "nav": "billing", "payment_id": payment_id, "p": found, "values": {}, "errors": {}}
        return render(request, "payment.html", ctx)

    @router.post("/payments/{payment_id}/refund", responses=HTML)
    async def refund(request: Request, user: User, payment_id: Id) -> HTMLResponse:
        """Two steps: the form asks for confirmation (`confirm` absent), then sends the refund to billing."""
        form = await checked_form(request, user)
        values = {"amount": form.get("amount", "").strip(), "reason": form.get("reason", "").strip()}
        found = await more_views.one(_api(request), user.token, "billing", f"/payments/{payment_id}")
        ctx: dict[str, Any] = {
            "user": user,
            "nav": "billing",
            "payment_id": payment_id,
            "p": found,
            "values": values,
            "errors": {},
        }
        if form.get("confirm") != "yes":
            return render(request, "payment.html", {**ctx, "confirming": True})
        body = {k: v for k, v in values.items() if v}
        answer = await more_views.send(
            _api(request), user.token, "billing", "POST", f"/payments/{payment_id}/refunds", body
        )
        if not answer.ok:
            ctx.update(errors=answer.field_errors(), problem_detail=answer.detail)
            return render(request, "payment.html", ctx, status=answer.status if answer.status >= 400 else 502)
        found = await more_views.one(_api(request), user.token, "billing", f"/payments/{payment_id}")
        return render(request, "payment.html", {**ctx, "p": found, "values": {}, "refunded": answer.body}, status=201)

    return router

"""The ad-hoc payment pages guests open from a charger's QR code (docs/drivers.md "Paying without an account").

Server-rendered, no token (outside /api/v1), no inline script or style: the page runs only its own vendored
file and the provider's hosted fields (the sandbox's, served here; Stripe.js for Stripe). The QR codes that
point at the pages are an operator route (`/api/v1/stations/{id}/evses/{evse}/qr.svg|png`).
"""

from __future__ import annotations

import io
import re
import secrets
import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

import segno
from fastapi import APIRouter, FastAPI, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from voltline_chassis.schemas import media

from voltline_billing.adapters.sandbox_cards import CardRefused, tokenize
from voltline_billing.domain.adhoc import AdhocState, AttemptLimit
from voltline_billing.domain.money import Money, round_money
from voltline_billing.entrypoints.api.common import invalid
from voltline_billing.service_layer import adhoc
from voltline_billing.service_layer.context import BillingContext, Conflict, Invalid, NotFound
from voltline_billing.service_layer.sessions import running_cost

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")
HTML = media("text/html", "A page of the guest payment flow")
SEE_OTHER: dict[int | str, Any] = {303: {"description": "On to the status page of the payment"}}
StationId = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9*\-_=:+|@.]{1,48}$")]
EvseId = Annotated[int, PathParam(ge=1, le=1000)]
AdhocId = Annotated[str, PathParam(pattern=r"^adh_[0-9a-f]{24}$")]
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
FINAL_PAYMENT_STATES = ("paid", "released", "failed")


def _headers(provider: str, frame_ancestors: str = "'none'") -> dict[str, str]:
    stripe = " https://js.stripe.com" if provider == "stripe" else ""
    return {
        "Content-Security-Policy": (
            f"default-src 'self'; script-src 'self'{stripe}; frame-src 'self'{stripe}; style-src 'self'; "
            f"img-src 'self' data:; connect-src 'self'{' https://api.stripe.com' if stripe else ''}; "
            f"frame-ancestors {frame_ancestors}; form-action 'self'; base-uri 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


def _price_rows(offer: adhoc.Offer) -> tuple[list[dict[str, str]], str | None]:
    cur, p = offer.tariff.currency, offer.prices
    vat = p.get("vat_percent")

    def text(amount: Decimal, unit: str) -> str:
        shown = f"{amount} {cur}{unit} excl. VAT"
        if vat is not None:
            shown += f" ({round_money(amount * (1 + vat / 100), cur)} {cur} incl. VAT)"
        return shown

    rows = []
    for key, label, unit in (("energy_price_per_kwh", "Energy", "/kWh"), ("time_price_per_hour", "Time", "/hour"),
                             ("session_fee", "Session fee", "")):  # fmt: skip
        amount = p.get(key)
        if amount is not None:
            rows.append({"key": key.split("_")[0] if key != "session_fee" else "fee", "label": label,
                         "text": text(amount, unit)})  # fmt: skip
    restricted = any(e.restrictions is not None for e in offer.tariff.elements)
    note = f"VAT {vat} %." if vat is not None else None
    if restricted:
        note = (note or "") + " Prices vary by time of day or use; the receipt shows what applied."
    return rows, note


def build_pay_router(ctx: BillingContext, provider: str, stripe_key: str | None, attempts: AttemptLimit) -> APIRouter:
    router = APIRouter(tags=["ad-hoc payment"], default_response_class=HTMLResponse)

    def page(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        response = templates.TemplateResponse(request, f"pay/{name}", values, status_code=status)
        response.headers.update(_headers(provider))
        return response

    async def pay_page(request: Request, station_id: str, evse_id: int, error: str | None, status: int) -> Response:
        try:
            offer = await adhoc.offer(ctx, station_id, evse_id)
        except NotFound as exc:
            return page(request, "pay.html", 404, station_id=station_id, evse_id=evse_id, offer=None, error=str(exc))
        rows, note = _price_rows(offer)
        return page(request, "pay.html", status, station_id=station_id, evse_id=evse_id, offer=offer,
                    price_rows=rows, vat_note=note, hold=str(offer.hold), error=error, provider=provider,
                    stripe_key=stripe_key or "", adhoc_id=f"adh_{secrets.token_hex(12)}")  # fmt: skip

    @router.get("/pay/status/{adhoc_id}", responses=HTML)
    async def status(request: Request, adhoc_id: AdhocId) -> Response:
        """Where the guest's payment and session are; reloads itself until the receipt is final."""
        try:
            v = await adhoc.view(ctx, adhoc_id)
        except NotFound:
            return page(request, "status.html", 404, g=None, state="unknown", headline="No such payment.")
        g, cur = v.guest, v.guest.currency
        state = "ended" if v.cdr is not None else g.state.value
        values: dict[str, Any] = {"g": g, "state": state, "hold": str(g.hold), "refresh": None}
        values["headline"] = {
            "holding": "Your card is being authorised…",
            "declined": "Your card was not accepted. Nothing was charged.",
            "starting": f"{g.hold} pre-authorised. Starting the charger: plug in your car.",
            "start_failed": "The charger could not be started. The pre-authorisation was released.",
            "charging": "Charging.",
            "ended": "Charging finished. Thank you!",
        }[state]
        if state == "charging" and g.session_id:
            values["energy"] = f"{Decimal(v.energy_wh or 0) / 1000:.3f} kWh"
            try:
                _, priced = await running_cost(ctx, g.session_id)
                values["cost_so_far"] = str(Money(priced.total_incl_vat, cur)) if priced else None
            except NotFound:
                values["cost_so_far"] = None
        if v.cdr is not None:
            p = v.cdr.priced
            settled = v.payment is not None and v.payment.state.value in FINAL_PAYMENT_STATES
            values["receipt"] = {
                "cdr_id": v.cdr.cdr_id, "started": v.cdr.started_at.strftime("%Y-%m-%d %H:%M UTC"),
                "ended": v.cdr.ended_at.strftime("%Y-%m-%d %H:%M UTC"), "energy": f"{v.cdr.energy_kwh} kWh",
                "lines": [{"description": ln.description, "amount": str(Money(ln.amount, cur))} for ln in p.lines],
                "excl": str(Money(p.total_excl_vat, cur)), "vat": str(Money(p.total_vat, cur)),
                "total": str(Money(p.total_incl_vat, cur)),
                "captured": str(Money(v.payment.captured, cur)) if settled and v.payment else None,
                "released": str(Money(v.released, cur)) if v.released is not None else None,
            }  # fmt: skip
            values["refresh"] = None if settled else 2
        elif g.state in (AdhocState.STARTING, AdhocState.CHARGING) or (g.state is AdhocState.HOLDING and not g.message):
            values["refresh"] = 3  # a hold whose answer never came waits for the guest to submit again
        return page(request, "status.html", **values)

    @router.get("/pay/{station_id}/{evse_id}", responses=HTML)
    async def show(request: Request, station_id: StationId, evse_id: EvseId) -> Response:
        """The price of this charger and the card form (the page a QR code opens)."""
        return await pay_page(request, station_id, evse_id, None, 200)

    @router.post(
        "/pay/{station_id}/{evse_id}", responses={**HTML, **SEE_OTHER, **media("text/html", "Too many attempts", 429)}
    )
    async def submit(request: Request, station_id: StationId, evse_id: EvseId) -> Response:
        """Hold the pre-authorisation, start the charger, and go on to the status page."""
        client = request.client.host if request.client else "unknown"
        if not attempts.allow(client, time.monotonic()):
            return await pay_page(request, station_id, evse_id, "Too many attempts from here. Try again later.", 429)
        form = {k: v[0].strip() for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        email = form.get("email") or None
        if email is not None and not EMAIL.match(email):
            return await pay_page(request, station_id, evse_id, "This e-mail address does not look right.", 422)
        token = form.get("card_token", "")
        if not re.fullmatch(r"[A-Za-z0-9_]{1,255}", token):
            return await pay_page(request, station_id, evse_id, "Enter your card first.", 422)
        try:
            guest = await adhoc.pay(ctx, form.get("adhoc_id", ""), station_id, evse_id, token,
                                    (form.get("card_label") or "")[:64] or None, email)  # fmt: skip
        except (Invalid, NotFound, Conflict) as exc:
            code = 422 if isinstance(exc, Invalid) else 409 if isinstance(exc, Conflict) else 404
            return await pay_page(request, station_id, evse_id, str(exc), code)
        return RedirectResponse(f"/pay/status/{guest.adhoc_id}", status_code=303)

    return router


class CardIn(BaseModel):
    number: str = Field(max_length=40)
    expiry: str | None = Field(default=None, max_length=8)
    cvc: str | None = Field(default=None, max_length=8)


class CardTokenOut(BaseModel):
    token: str
    label: str


def build_sandbox_fields_router() -> APIRouter:
    """The sandbox provider's hosted fields (only with VOLTLINE_PAYMENT_PROVIDER=sandbox)."""
    router = APIRouter(tags=["sandbox"])

    @router.get("/sandbox/hosted-fields", response_class=HTMLResponse, responses=HTML)
    async def hosted_fields(request: Request) -> Response:
        """The card form a provider serves in an iframe; it posts a token to the page that framed it."""
        response = templates.TemplateResponse(request, "pay/hosted_fields.html", {})
        response.headers.update(_headers("sandbox", frame_ancestors="'self'"))
        return response

    @router.post("/sandbox/tokens", response_model=CardTokenOut)
    async def make_token(body: CardIn) -> Any:
        """A test card number becomes a token (tok_visa, tok_declined, ...); see adapters/sandbox_cards.py."""
        try:
            token, label = tokenize(body.number)
        except CardRefused as exc:
            raise invalid("body.number", str(exc)) from None
        return CardTokenOut(token=token, label=label)

    return router


def build_qr_router(public_url: str) -> APIRouter:
    """Operators print these: each EVSE's QR code opens its payment page."""
    router = APIRouter(tags=["ad-hoc payment"])
    svg, png = media("image/svg+xml", "The QR code, as SVG"), media("image/png", "The QR code, as PNG", binary=True)

    def qr(station_id: str, evse_id: int) -> segno.QRCode:
        return segno.make_qr(f"{public_url.rstrip('/')}/pay/{station_id}/{evse_id}", error="m")

    @router.get("/stations/{station_id}/evses/{evse_id}/qr.svg", response_class=Response, responses=svg)
    async def qr_svg(station_id: StationId, evse_id: EvseId) -> Response:
        out = io.BytesIO()
        qr(station_id, evse_id).save(out, kind="svg", scale=8, border=4, title=f"Pay and charge at {station_id}")
        return Response(out.getvalue(), media_type="image/svg+xml")

    @router.get("/stations/{station_id}/evses/{evse_id}/qr.png", response_class=Response, responses=png)
    async def qr_png(station_id: StationId, evse_id: EvseId) -> Response:
        out = io.BytesIO()
        qr(station_id, evse_id).save(out, kind="png", scale=8, border=4)
        return Response(out.getvalue(), media_type="image/png")

    return router


def mount_pay_pages(
    app: FastAPI, ctx: BillingContext, provider: str, stripe_key: str | None, attempts_per_hour: int = 10
) -> None:
    # The static files first: /pay/static/pay.js would otherwise look like /pay/{station_id}/{evse_id}.
    app.mount("/pay/static", StaticFiles(directory=HERE / "static" / "pay"), name="pay-static")
    app.include_router(
        build_pay_router(ctx, provider, stripe_key, AttemptLimit(attempts_per_hour, 3600.0))
    )  # status before /pay/{station}/{evse}
    if provider == "sandbox":
        app.include_router(build_sandbox_fields_router())

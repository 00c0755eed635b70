"""The Stripe adapter through Stripe's own SDK and HTTP client, against recorded Stripe responses served
from a local replay server (no network). The server also checks what the SDK sent: path, form
parameters and the Idempotency-Key header."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import pytest_asyncio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from voltline_billing.adapters.stripe_provider import StripeProvider
from voltline_billing.domain.money import Money
from voltline_billing.service_layer.ports import ProviderTimeout

CASSETTE = json.loads((Path(__file__).parent / "recorded" / "stripe_payment_intents.json").read_text())["entries"]
pytestmark = pytest.mark.asyncio(loop_scope="module")


class Replay:
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def handle(self, request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode()))
        key = request.headers.get("idempotency-key")
        self.seen.append({"path": request.url.path, "key": key, "auth": request.headers.get("authorization")})
        for entry in CASSETTE:
            want = entry["request"]
            if (want["method"], want["path"], want["idempotency_key"]) == (request.method, request.url.path, key):
                if want["form"] != form:
                    return JSONResponse({"error": {"type": "invalid_request_error", "message": f"form {form}"}}, 400)
                return JSONResponse(entry["response"]["body"], entry["response"]["status"])
        return JSONResponse({"error": {"type": "invalid_request_error", "message": "no recording"}}, 404)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stripe_api() -> AsyncIterator[tuple[str, Replay]]:
    replay = Replay()
    app = Starlette(routes=[Route("/{path:path}", replay.handle, methods=["GET", "POST", "DELETE"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", replay
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def provider(stripe_api: tuple[str, Replay]) -> StripeProvider:
    return StripeProvider("sk_test_voltline", api_base=stripe_api[0], timeout_s=5)


EUR = "EUR"


async def test_hold_capture_refund(provider: StripeProvider, stripe_api: tuple[str, Replay]) -> None:
    hold = await provider.authorize(token="pm_card_visa", amount=Money(Decimal("50.00"), EUR), key="S-STRIPE:hold",
                                    reference="S-STRIPE")  # fmt: skip
    assert (hold.kind, hold.provider_ref) == ("ok", "pi_3QvoltlineHold01")
    capture = await provider.capture(ref="pi_3QvoltlineHold01", amount=Money(Decimal("12.35"), EUR),
                                     key="S-STRIPE:capture")  # fmt: skip
    assert capture.kind == "ok"
    refund = await provider.refund(ref="pi_3QvoltlineHold01", amount=Money(Decimal("2.00"), EUR),
                                   key="S-STRIPE:refund:rf_1")  # fmt: skip
    assert (refund.kind, refund.provider_ref) == ("ok", "re_3QvoltlineRefund01")
    seen = stripe_api[1].seen[-3:]
    assert [s["key"] for s in seen] == ["S-STRIPE:hold", "S-STRIPE:capture", "S-STRIPE:refund:rf_1"]
    assert all(s["auth"] == "Bearer sk_test_voltline" for s in seen)


async def test_release_and_sale(provider: StripeProvider) -> None:
    released = await provider.release(ref="pi_3QvoltlineHold02", key="S-ZERO:release")
    assert released.kind == "ok"
    sale = await provider.sale(token="pm_card_visa", amount=Money(Decimal("12.35"), EUR), key="S-SALE:sale:1",
                               reference="S-SALE")  # fmt: skip
    assert (sale.kind, sale.provider_ref) == ("ok", "pi_3QvoltlineSale01")


async def test_a_card_decline_is_a_decline_with_its_reason(provider: StripeProvider) -> None:
    outcome = await provider.authorize(
        token="pm_card_chargeDeclinedInsufficientFunds",
        amount=Money(Decimal("50.00"), EUR),
        key="S-DECL:hold",
        reference="S-DECL",
    )
    assert outcome.kind == "insufficient_funds" and "insufficient funds" in (outcome.message or "")


async def test_a_server_error_is_an_unknown_outcome(provider: StripeProvider) -> None:
    with pytest.raises(ProviderTimeout):
        await provider.capture(ref="pi_3QvoltlineHold03", amount=Money(Decimal("12.35"), EUR), key="S-OUT:capture")


async def test_an_unreachable_api_is_an_unknown_outcome() -> None:
    provider = StripeProvider("sk_test_voltline", api_base="http://127.0.0.1:9", timeout_s=2)
    with pytest.raises(ProviderTimeout):
        await provider.release(ref="pi_x", key="k")

"""The drivers' app API of billing (/api/v1/me/...) over real Kafka and PostgreSQL: receipts whose JSON and
PDF figures are the CDR's, payment methods, card top-ups (idempotent), plans; another driver gets 404.

Drivers' tokens are signed here with a key published, as auth publishes it, on the API-keys topic.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from billing_testing import ADMIN, TOKEN, RunningBilling, ended, eventually, running_billing, started
from pypdf import PdfReader
from voltline_chassis.api_keys import record_signing_key
from voltline_chassis.driver_tokens import RECORD_KEY_PREFIX, SigningKey, sign_key_record
from voltline_devinfra.api_probes import list_routes_refuse_huge_offsets, problem_field
from voltline_events import envelope_for
from voltline_events.payloads.auth import DriverSigningKey

pytestmark = pytest.mark.asyncio(loop_scope="module")
KEY = SigningKey.generate(datetime.now(UTC))
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
SELLER = {"seller_name": "Voltline Charging GmbH", "seller_address": "Musterweg 1, 10115 Berlin, DE",
          "seller_vat_id": "DE123456789"}  # fmt: skip


def bearer(driver_id: str) -> dict[str, str]:
    token = KEY.sign(driver_id, f"APP{driver_id.upper()}", datetime.now(UTC), timedelta(hours=3))
    return {"Authorization": f"Bearer {token}"}


ALICE, BOB = bearer("alice"), bearer("bob")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def billing(kafka: Any, postgres: Any) -> AsyncIterator[RunningBilling]:
    async with running_billing(kafka, postgres, **SELLER) as running:
        record = DriverSigningKey(kid=KEY.kid, public_key=KEY.public_pem(), created_at=KEY.created_at)
        record = sign_key_record(record, record_signing_key(TOKEN), datetime.now(UTC))
        envelope = envelope_for(record, source="auth/test")
        await running.producer.publish(running.topics.api_keys, envelope, key=f"{RECORD_KEY_PREFIX}{KEY.kid}".encode())

        async def accepted() -> bool:
            return (await running.api.get("/api/v1/me/payment-methods", headers=ALICE)).status_code == 200

        await eventually(accepted, what="billing to know the driver key")
        yield running


async def me(billing: RunningBilling, method: str, path: str, who: dict[str, str], expect: int, **kw: Any) -> Any:
    response = await billing.api.request(method, f"/api/v1/me{path}", headers=who | kw.pop("headers", {}), **kw)
    assert response.status_code == expect, response.text
    return response


async def test_a_receipt_in_json_and_pdf_carries_the_cdr_figures(billing: RunningBilling) -> None:
    await billing.post("/tariffs", {"tariff_id": "STD", "currency": "EUR", "energy_price_per_kwh": "0.35",
                                    "time_price_per_hour": "1.20", "session_fee": "1.00", "vat_percent": "19",
                                    "default": True}, expect=201)  # fmt: skip
    await billing.put("/stations/CP-R/address", {"address": "Hauptstrasse 5, 80331 Muenchen, DE"})
    card = (await me(billing, "POST", "/payment-methods", ALICE, 201, json={"token": "tok_visa"})).json()
    assert card["is_default"] and card["type"] == "card" and card["token"] == "…visa"

    await billing.publish(started("S-R1", "CP-R", T0, driver_id="alice"))
    await billing.payment("S-R1", state="authorized")
    await billing.publish(ended("S-R1", "CP-R", T0, T0 + timedelta(minutes=75), 22_500, driver_id="alice"))
    cdr = await billing.cdr("S-R1")
    paid = await billing.payment("S-R1", state="paid")

    mine = (await me(billing, "GET", "/cdrs", ALICE, 200)).json()
    assert [c["cdr_id"] for c in mine["items"]] == [cdr["cdr_id"]] and mine["next_offset"] is None
    assert (await me(billing, "GET", f"/cdrs/{cdr['cdr_id']}", ALICE, 200)).json()["total_incl_vat"] == "12.35"

    receipt = (await me(billing, "GET", f"/cdrs/{cdr['cdr_id']}/receipt", ALICE, 200)).json()
    assert re.fullmatch(r"RCT-\d{4}-\d{6}", receipt["number"])
    for key in ("total_excl_vat", "total_vat", "total_incl_vat", "currency", "energy_kwh", "station_id"):
        assert receipt[key] == cdr[key], key
    assert receipt["seller"] == {"name": SELLER["seller_name"], "address": SELLER["seller_address"],
                                 "vat_id": SELLER["seller_vat_id"]}  # fmt: skip
    assert receipt["station_address"] == "Hauptstrasse 5, 80331 Muenchen, DE"
    assert receipt["vat"] == [{"vat_percent": "19", "taxable": "10.38", "vat": "1.97"}]
    assert [(x["quantity"], x["unit_price"], x["amount"]) for x in receipt["lines"]] == [
        ("22.500", "0.35", "7.88"), ("4500", "1.20", "1.50"), ("1", "1.00", "1.00")]  # fmt: skip
    assert receipt["payment"] == {"method": "card", "state": "paid", "label": "card …visa", "captured": "12.35"}
    assert paid["captured"] == receipt["total_incl_vat"]
    again = (await me(billing, "GET", f"/cdrs/{cdr['cdr_id']}/receipt", ALICE, 200)).json()
    assert again["number"] == receipt["number"] and again["issued_at"] == receipt["issued_at"]  # issued once

    await me(billing, "GET", "/billing-details", ALICE, 404)
    details = {"name": "Alice Fleet GmbH", "address": "Werkstr. 2, 20095 Hamburg, DE", "vat_id": "DE999999999"}
    assert (await me(billing, "PUT", "/billing-details", ALICE, 200, json=details)).json() == details
    assert (await me(billing, "GET", "/billing-details", ALICE, 200)).json() == details
    await me(billing, "PUT", "/billing-details", ALICE, 422, json={"name": ""})
    issued_before = (await me(billing, "GET", f"/cdrs/{cdr['cdr_id']}/receipt", ALICE, 200)).json()
    assert issued_before["buyer"] == {"driver_id": "alice", "name": None, "address": None, "vat_id": None}

    response = await me(billing, "GET", f"/cdrs/{cdr['cdr_id']}/receipt.pdf", ALICE, 200)
    assert response.headers["content-type"] == "application/pdf"
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    for expected in (receipt["number"], "DE123456789", "Voltline Charging GmbH", "Musterweg 1, 10115 Berlin",
                     "Hauptstrasse 5, 80331 Muenchen", "CP-R", "driver alice", "22.500 kWh",
                     "2026-11-20T10:00:00Z", "2026-11-20T11:15:00Z", "0.35/kWh", "7.88", "1.20/hour",
                     "VAT 19% on 10.38 EUR: 1.97 EUR", "Net total (excl. VAT): 10.38 EUR", "VAT total: 1.97 EUR",
                     "Total (incl. VAT): 12.35 EUR", "Payment: card", "charged 12.35 EUR"):  # fmt: skip
        assert expected in text, (expected, text)

    # A second CDR gets the next number of the series: no gap.
    await billing.publish(ended("S-R2", "CP-R", T0, T0 + timedelta(minutes=10), 1_000, driver_id="alice"))
    second = await billing.cdr("S-R2")
    # Asked for four times at once: one number, and the series moves by one.
    path = f"/cdrs/{second['cdr_id']}/receipt"
    answers = await asyncio.gather(*(me(billing, "GET", path, ALICE, 200) for _ in range(4)))
    [number] = {answer.json()["number"] for answer in answers}
    assert int(number[-6:]) == int(receipt["number"][-6:]) + 1
    await billing.publish(ended("S-R3", "CP-R", T0, T0 + timedelta(minutes=10), 1_000, driver_id="alice"))
    third = await billing.cdr("S-R3")
    following = (await me(billing, "GET", f"/cdrs/{third['cdr_id']}/receipt", ALICE, 200)).json()
    assert int(following["number"][-6:]) == int(number[-6:]) + 1
    assert following["buyer"] == {"driver_id": "alice"} | details  # issued after the details were set
    pdf = await me(billing, "GET", f"/cdrs/{third['cdr_id']}/receipt.pdf", ALICE, 200)
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "Buyer: Alice Fleet GmbH, driver alice" in text and "Buyer VAT ID: DE999999999" in text, text


async def test_payment_methods_and_an_idempotent_card_top_up(billing: RunningBilling) -> None:
    await me(billing, "POST", "/payment-methods", BOB, 422, json={"type": "card"})
    first = (await me(billing, "POST", "/payment-methods", BOB, 201, json={"token": "tok_visa"})).json()
    declined = (await me(billing, "POST", "/payment-methods", BOB, 201, json={"token": "tok_declined"})).json()
    assert first["is_default"] and not declined["is_default"]
    chosen = (await me(billing, "POST", f"/payment-methods/{declined['method_id']}/default", BOB, 200)).json()
    assert chosen["is_default"]
    methods = (await me(billing, "GET", "/payment-methods", BOB, 200)).json()["items"]
    assert [(m["method_id"], m["is_default"]) for m in methods] == [
        (first["method_id"], False), (declined["method_id"], True)]  # fmt: skip

    body = {"amount": "20.00", "currency": "EUR"}
    problem = await me(billing, "POST", "/wallet/top-ups", BOB, 422, json=body)
    assert problem.json()["errors"][0]["field"] == "header.idempotency-key"
    refused = await me(billing, "POST", "/wallet/top-ups", BOB, 402, json=body, headers={"Idempotency-Key": "k0"})
    assert "declined" in refused.json()["detail"]
    await me(billing, "GET", "/wallet", BOB, 404)  # nothing credited

    await me(billing, "DELETE", f"/payment-methods/{declined['method_id']}", BOB, 204)
    for _ in range(2):  # a double tap: one charge, one credit
        wallet = (await me(billing, "POST", "/wallet/top-ups", BOB, 201, json=body,
                           headers={"Idempotency-Key": "k1"})).json()  # fmt: skip
        assert (wallet["balance"], wallet["currency"]) == ("20.00", "EUR")
    await me(
        billing, "POST", "/wallet/top-ups", BOB, 409, json=body | {"amount": "5"}, headers={"Idempotency-Key": "k1"}
    )
    sales = [op for op in billing.sandbox.operations if op["kind"] == "sale" and "topup:bob:k1" in op["key"]]
    assert [(op["amount"], op["outcome"]) for op in sales] == [("20.00", "ok")]
    history = (await me(billing, "GET", "/wallet/history", BOB, 200)).json()["items"]
    assert [(h["kind"], h["amount"]) for h in history] == [("top_up", "20.00")]


async def test_a_top_up_whose_answer_was_lost_is_completed_by_the_same_request(billing: RunningBilling) -> None:
    """The provider charged the card but its answer never came (504): the same request, same key, credits the
    wallet with that charge and charges nothing again."""
    carol = bearer("carol")
    await me(billing, "POST", "/payment-methods", carol, 201, json={"token": "tok_timeout_once"})
    body, key = {"amount": "15.00", "currency": "EUR"}, {"Idempotency-Key": "t-1"}
    lost = await me(billing, "POST", "/wallet/top-ups", carol, 504, json=body, headers=key)
    assert "same Idempotency-Key" in lost.json()["detail"]
    await me(billing, "GET", "/wallet", carol, 404)
    wallet = (await me(billing, "POST", "/wallet/top-ups", carol, 201, json=body, headers=key)).json()
    assert wallet["balance"] == "15.00"
    sales = [op for op in billing.sandbox.operations if op["kind"] == "sale" and "topup:carol:" in op["key"]]
    assert [(op["amount"], op["outcome"]) for op in sales] == [("15.00", "ok")]


async def test_plans_subscribe_and_cancel(billing: RunningBilling) -> None:
    await billing.post("/plans", {"plan_id": "GOLD", "name": "Gold", "currency": "EUR", "monthly_fee": "9.99",
                                  "included_kwh": "10", "vat_percent": "19"}, expect=201)  # fmt: skip
    plans = (await me(billing, "GET", "/plans", BOB, 200)).json()["items"]
    assert [p["plan_id"] for p in plans] == ["GOLD"]
    await me(billing, "GET", "/subscription", BOB, 404)
    sub = (await me(billing, "POST", "/subscription", BOB, 201, json={"plan_id": "GOLD"})).json()
    assert sub["driver_id"] == "bob" and sub["cancelled_at"] is None
    await me(billing, "POST", "/subscription", BOB, 409, json={"plan_id": "GOLD"})
    assert (await me(billing, "GET", "/subscription", BOB, 200)).json()["subscription_id"] == sub["subscription_id"]
    await me(billing, "POST", "/subscription", BOB, 422, json={"plan_id": "NOPE"})
    cancelled = (await me(billing, "POST", "/subscription/cancel", BOB, 200)).json()
    assert cancelled["cancelled_at"] is not None
    await me(billing, "GET", "/subscription", BOB, 404)


async def test_another_driver_gets_404_on_every_route_with_an_id(billing: RunningBilling) -> None:
    """Alice's CDR, receipt, invoice and payment methods, tried with Bob's token: 404, as if missing."""
    found = (await me(billing, "GET", "/cdrs", ALICE, 200)).json()["items"]
    if not found:  # this test alone: give Alice a CDR
        await billing.publish(ended("S-X1", "CP-R", T0, T0 + timedelta(minutes=10), 1_000, driver_id="alice"))
        found = [await billing.cdr("S-X1")]
    cdr_id = found[0]["cdr_id"]
    method = (await me(billing, "POST", "/payment-methods", ALICE, 201, json={"token": "tok_visa"})).json()
    await billing.post("/plans", {"plan_id": "FEE", "name": "Fee", "currency": "EUR", "monthly_fee": "5.00",
                                  "vat_percent": "19"}, expect=201)  # fmt: skip
    await billing.post("/subscriptions", {"driver_id": "alice", "plan_id": "FEE",
                                          "starts_at": "2026-10-01T00:00:00Z"}, expect=201)  # fmt: skip
    await billing.post("/invoices/run", {"period": "2026-10"}, expect=200)
    [invoice] = (await me(billing, "GET", "/invoices", ALICE, 200)).json()["items"]
    assert invoice["driver_id"] == "alice" and invoice["total_incl_vat"] == "5.95"
    pdf = await me(billing, "GET", f"/invoices/{invoice['invoice_id']}/receipt.pdf", ALICE, 200)
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert invoice["number"] in text and "Total (incl. VAT): 5.95 EUR" in text and "DE123456789" in text

    for verb, path, body in [
        ("GET", f"/cdrs/{cdr_id}", None),
        ("GET", f"/cdrs/{cdr_id}/receipt", None),
        ("GET", f"/cdrs/{cdr_id}/receipt.pdf", None),
        ("GET", f"/invoices/{invoice['invoice_id']}", None),
        ("GET", f"/invoices/{invoice['invoice_id']}/receipt.pdf", None),
        ("DELETE", f"/payment-methods/{method['method_id']}", None),
        ("POST", f"/payment-methods/{method['method_id']}/default", None),
    ]:
        response = await me(billing, verb, path, BOB, 404, json=body)
        assert response.headers["content-type"].startswith("application/problem+json")
    top_up = {"amount": "1.00", "currency": "EUR", "method_id": method["method_id"]}
    await me(billing, "POST", "/wallet/top-ups", BOB, 404, json=top_up, headers={"Idempotency-Key": "x"})
    assert not any(c["cdr_id"] == cdr_id for c in (await me(billing, "GET", "/cdrs", BOB, 200)).json()["items"])
    assert (await me(billing, "GET", "/invoices", BOB, 200)).json()["items"] == []
    # Alice's method is untouched; operators' tokens open no /me route.
    assert method["method_id"] in [
        m["method_id"] for m in (await me(billing, "GET", "/payment-methods", ALICE, 200)).json()["items"]
    ]
    await me(billing, "GET", "/cdrs", ADMIN, 403)


async def test_driver_lists_refuse_huge_offsets_and_bad_input_names_the_field(billing: RunningBilling) -> None:
    answers = await list_routes_refuse_huge_offsets(billing.api, ALICE, under="/api/v1/me/")
    assert len(answers) >= 3 and all(status == 422 for status in answers.values()), answers
    key = {"Idempotency-Key": "bad-1"}
    for body, field in [
        ({"amount": "-1", "currency": "EUR"}, "body.amount"),
        ({"amount": "1", "currency": "euro"}, "body.currency"),
        ({"amount": "1", "currency": "EUR", "tip": "1"}, "body.tip"),
    ]:
        answer = await me(billing, "POST", "/wallet/top-ups", ALICE, 422, json=body, headers=key)
        assert problem_field(answer) == field, answer.text
    answer = await me(billing, "POST", "/payment-methods", ALICE, 422, json={"type": "postpaid"})
    assert problem_field(answer) == "body.type", answer.text

"""Declined cards, an exhausted wallet and provider timeouts each end in a clear, recoverable state;
nothing is charged twice and the ledger always balances."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer
from billing_testing import ADMIN, RunningBilling, ended, eventually, started

pytestmark = pytest.mark.asyncio(loop_scope="module")
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
END = T0 + timedelta(minutes=75)
ENERGY = 22_500  # with the tariff below: 12.35 EUR including VAT


@pytest_asyncio.fixture(scope="module", loop_scope="module", autouse=True)
async def tariff(billing: RunningBilling) -> None:
    body = {"tariff_id": "STD", "currency": "EUR", "energy_price_per_kwh": "0.35", "time_price_per_hour": "1.20",
            "session_fee": "1.00", "vat_percent": "19", "default": True}  # fmt: skip
    await billing.post("/tariffs", body, expect=201)


def provider_ops(billing: RunningBilling, session_id: str) -> list[tuple[str, str | None, str]]:
    return [(o["kind"], o["amount"], o["outcome"]) for o in billing.sandbox.operations
            if o["key"].startswith(f"{session_id}:")]  # fmt: skip


async def unanswered(billing: RunningBilling, session_id: str, state: str) -> dict[str, Any]:
    """The payment once the provider's timeout in `state` is recorded (the state alone is written before the call)."""
    return await eventually(lambda: billing.payment(session_id, state=state), ok=lambda p: p["last_error"] is not None)


async def run_session(billing: RunningBilling, session_id: str, driver_id: str | None) -> None:
    await billing.publish(started(session_id, "CP-1", T0, driver_id=driver_id))
    await billing.publish(ended(session_id, "CP-1", T0, END, ENERGY, driver_id=driver_id))


async def test_declined_card_leaves_the_cdr_unpaid_and_visible_until_a_retry(billing: RunningBilling) -> None:
    await billing.post("/drivers/D-DECL/payment-methods", {"type": "card", "token": "tok_declined"}, expect=201)
    await run_session(billing, "S-DECL", "D-DECL")
    failed = await billing.payment("S-DECL", state="failed")
    assert failed["needs_attention"] and "card_declined" in failed["last_error"]
    cdr = await billing.cdr("S-DECL")
    assert (cdr["payment_state"], cdr["total_incl_vat"]) == ("failed", "12.35")
    unpaid = await billing.get("/cdrs", payment_state="failed")
    assert "S-DECL" in [c["session_id"] for c in unpaid["items"]]
    assert provider_ops(billing, "S-DECL") == [("authorize", "50.00", "declined"), ("sale", "12.35", "declined")]

    await billing.post("/drivers/D-DECL/payment-methods", {"type": "card", "token": "tok_visa"}, expect=201)
    paid = await billing.post(f"/payments/{failed['payment_id']}/retry", expect=200)
    assert (paid["state"], paid["captured"], paid["attempt"]) == ("paid", "12.35", 2)
    assert provider_ops(billing, "S-DECL")[-1] == ("sale", "12.35", "ok")
    again = await billing.api.post(f"/api/v1/payments/{failed['payment_id']}/retry", headers=ADMIN)
    assert again.status_code == 422 and "only failed payments" in again.json()["detail"]


async def test_insufficient_funds_on_the_card_is_named(billing: RunningBilling) -> None:
    await billing.post(
        "/drivers/D-POOR/payment-methods", {"type": "card", "token": "tok_insufficient_funds"}, expect=201
    )
    await run_session(billing, "S-POOR", "D-POOR")
    failed = await billing.payment("S-POOR", state="failed")
    assert "insufficient_funds" in failed["last_error"]
    assert [op["outcome"] for op in failed["operations"]] == ["insufficient_funds", "insufficient_funds"]


async def test_unanswered_calls_are_retried_with_the_same_key_and_apply_once(billing: RunningBilling) -> None:
    await billing.post("/drivers/D-SLOW/payment-methods", {"type": "card", "token": "tok_timeout_once"}, expect=201)
    await billing.publish(started("S-SLOW", "CP-1", T0, driver_id="D-SLOW"))
    # "authorizing"/"capturing" are written before the provider is called: wait for the recorded timeout, or an
    # operator's retry could overtake the unanswered call and the log would miss its timeout.
    authorizing = await unanswered(billing, "S-SLOW", "authorizing")
    assert "not answered" in authorizing["last_error"]
    await billing.publish(ended("S-SLOW", "CP-1", T0, END, ENERGY, driver_id="D-SLOW"))
    capturing = await unanswered(billing, "S-SLOW", "capturing")  # the hold's answer came on retry; capture hangs
    assert (await billing.cdr("S-SLOW"))["payment_state"] == "capturing"
    paid = await billing.post(f"/payments/{capturing['payment_id']}/retry", expect=200)
    assert (paid["state"], paid["captured"]) == ("paid", "12.35")
    assert [(op["kind"], op["idempotency_key"], op["outcome"]) for op in paid["operations"]] == [
        ("authorize", "S-SLOW:hold", "timeout"),
        ("authorize", "S-SLOW:hold", "ok"),
        ("capture", "S-SLOW:capture", "timeout"),
        ("capture", "S-SLOW:capture", "ok"),
    ]
    assert provider_ops(billing, "S-SLOW") == [("authorize", "50.00", "ok"), ("capture", "12.35", "ok")]


async def test_a_provider_outage_waits_and_recovers(billing: RunningBilling) -> None:
    await billing.post("/drivers/D-OUT/payment-methods", {"type": "card", "token": "tok_visa"}, expect=201)
    await billing.publish(started("S-OUT", "CP-1", T0, driver_id="D-OUT"))
    await billing.payment("S-OUT", state="authorized")
    billing.sandbox.outage = True
    try:
        await billing.publish(ended("S-OUT", "CP-1", T0, END, ENERGY, driver_id="D-OUT"))
        # "capturing" is written before the provider is called, needs_attention once its timeout is recorded.
        stuck = await eventually(lambda: billing.payment("S-OUT", state="capturing"), ok=lambda p: p["needs_attention"])
        assert stuck["needs_attention"] and stuck["captured"] == "0.00"
        still = await billing.post(f"/payments/{stuck['payment_id']}/retry", expect=200)
        assert still["state"] == "capturing"
    finally:
        billing.sandbox.outage = False
    paid = await billing.post(f"/payments/{stuck['payment_id']}/retry", expect=200)
    assert paid["state"] == "paid" and paid["last_error"] is None
    assert provider_ops(billing, "S-OUT") == [("authorize", "50.00", "ok"), ("capture", "12.35", "ok")]


async def test_exhausted_wallet_fails_cleanly_and_a_top_up_pays_it(billing: RunningBilling) -> None:
    await billing.post("/drivers/D-WAL/payment-methods", {"type": "wallet"}, expect=201)
    wallet = await billing.post("/wallets/D-WAL/top-ups", {"amount": "5.00", "currency": "EUR"}, expect=201)
    assert wallet["balance"] == "5.00"
    await run_session(billing, "S-WAL", "D-WAL")
    failed = await billing.payment("S-WAL", state="failed")
    assert "holds 5.00 EUR, 12.35 EUR is needed" in failed["last_error"]
    assert (await billing.get("/wallets/D-WAL"))["balance"] == "5.00"  # never below zero

    wallet = await billing.post("/wallets/D-WAL/top-ups", {"amount": "10", "currency": "EUR", "reference": "r-1"},
                                expect=201)  # fmt: skip
    assert wallet["balance"] == "2.65"  # the failed session was paid right after the top-up
    repeat = await billing.post("/wallets/D-WAL/top-ups", {"amount": "10", "currency": "EUR", "reference": "r-1"},
                                expect=201)  # fmt: skip
    assert repeat["balance"] == "2.65"  # same reference: a no-op
    assert (await billing.payment("S-WAL"))["state"] == "paid"
    ledger = await billing.get("/wallets/D-WAL/ledger")
    assert [(e["kind"], e["amount"]) for e in ledger["items"]] == [
        ("top_up", "5.00"), ("top_up", "10.00"), ("charge", "-12.35"),
    ]  # fmt: skip
    assert (await billing.get("/ledger/trial-balance"))["balanced"] is True


async def test_credit_limit_lets_a_wallet_go_negative_up_to_it(billing: RunningBilling) -> None:
    await billing.post("/drivers/D-CRED/payment-methods", {"type": "wallet"}, expect=201)
    await billing.put("/wallets/D-CRED/credit-limit", {"credit_limit": "20", "currency": "EUR"})
    await run_session(billing, "S-CRED", "D-CRED")
    await billing.payment("S-CRED", state="paid")
    wallet = await billing.get("/wallets/D-CRED")
    assert (wallet["balance"], wallet["available"]) == ("-12.35", "7.65")


async def test_refunds_card_and_wallet_never_exceed_what_was_taken(billing: RunningBilling) -> None:
    card = await billing.payment("S-DECL", state="paid")
    refund = await billing.post(f"/payments/{card['payment_id']}/refunds", {"amount": "2.00", "reason": "goodwill"},
                                expect=201)  # fmt: skip
    assert (refund["state"], refund["amount"]) == ("succeeded", "2.00")
    too_much = await billing.api.post(f"/api/v1/payments/{card['payment_id']}/refunds", json={"amount": "10.36"},
                                      headers=ADMIN)  # fmt: skip
    assert too_much.status_code == 422 and too_much.json()["errors"][0]["field"] == "body.amount"
    rest = await billing.post(f"/payments/{card['payment_id']}/refunds", {}, expect=201)
    assert rest["amount"] == "10.35"
    assert (await billing.payment("S-DECL"))["refunded"] == "12.35"

    wallet_payment = await billing.payment("S-WAL", state="paid")
    await billing.post(f"/payments/{wallet_payment['payment_id']}/refunds", {"amount": "1.35"}, expect=201)
    assert (await billing.get("/wallets/D-WAL"))["balance"] == "4.00"
    assert (await billing.get("/ledger/trial-balance"))["balanced"] is True


async def test_each_succeeded_refund_is_announced_for_analytics(billing: RunningBilling) -> None:
    """billing.refund_issued carries the session's station and start, and the excl. VAT share in the CDR's
    proportion, so analytics corrects the right bucket (runs after the refunds above)."""
    cdr = await billing.cdr("S-DECL")
    consumer = AIOKafkaConsumer(billing.topics.billing, bootstrap_servers=billing.settings.kafka_bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    refunds: list[dict[str, Any]] = []
    try:
        for _ in range(100):  # until both are seen, 30 s at most
            if len(refunds) >= 2:
                break
            for records in (await consumer.getmany(timeout_ms=300)).values():
                events = [json.loads(r.value) for r in records]
                refunds += [e for e in events if e["type"] == "billing.refund_issued" and e["session_id"] == "S-DECL"]
    finally:
        await consumer.stop()
    ratio = Decimal(cdr["total_excl_vat"]) / Decimal(cdr["total_incl_vat"])
    assert [(r["payload"]["amount_incl_vat"], r["payload"]["station_id"]) for r in refunds] == [
        ("2.00", "CP-1"), ("10.35", "CP-1")
    ]  # fmt: skip
    for r in refunds:
        expected = (Decimal(r["payload"]["amount_incl_vat"]) * ratio).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert Decimal(r["payload"]["amount_excl_vat"]) == expected
        assert r["payload"]["session_started_at"].startswith("2026-11-20T10:00:00")


async def test_unassigned_session_can_be_given_to_a_driver(billing: RunningBilling) -> None:
    await run_session(billing, "S-ANON", None)
    payment = await billing.payment("S-ANON", state="unassigned")
    assert payment["needs_attention"] and (await billing.cdr("S-ANON"))["payment_state"] == "unassigned"
    await billing.post("/drivers/D-LATE/payment-methods", {"type": "card", "token": "tok_visa"}, expect=201)
    paid = await billing.post(f"/payments/{payment['payment_id']}/assign", {"driver_id": "D-LATE"}, expect=200)
    assert (paid["state"], paid["captured"], paid["driver_id"]) == ("paid", "12.35", "D-LATE")
    assert (await billing.cdr("S-ANON"))["driver_id"] == "D-LATE"  # the CDR is the driver's too (/me/cdrs)
    mine = await billing.get("/cdrs", driver_id="D-LATE")
    assert [c["session_id"] for c in mine["items"]] == ["S-ANON"]


async def test_a_driver_named_only_at_the_end_pays_with_their_card(billing: RunningBilling) -> None:
    """A 2.x card sent after Started (ADR 0024): the start had no driver, the end names them."""
    await billing.post("/drivers/D-TOKEN/payment-methods", {"type": "card", "token": "tok_visa"}, expect=201)
    await billing.publish(started("S-LATETOKEN", "CP-1", T0, driver_id=None))
    await billing.payment("S-LATETOKEN", state="unassigned")
    await billing.publish(ended("S-LATETOKEN", "CP-1", T0, END, ENERGY, driver_id="D-TOKEN"))
    paid = await billing.payment("S-LATETOKEN", state="paid")
    assert (paid["driver_id"], paid["captured"], paid["method"]) == ("D-TOKEN", "12.35", "card")
    assert (await billing.cdr("S-LATETOKEN"))["driver_id"] == "D-TOKEN"
    assert provider_ops(billing, "S-LATETOKEN") == [("sale", "12.35", "ok")]

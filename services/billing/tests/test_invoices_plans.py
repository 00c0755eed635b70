"""Subscription plans applied at pricing, postpaid monthly invoices numbered without gaps, credit notes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from billing_testing import ADMIN, RunningBilling, ended

pytestmark = pytest.mark.asyncio(loop_scope="module")
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
YEAR = datetime.now(UTC).year  # documents are numbered in the year they are issued


@pytest_asyncio.fixture(scope="module", loop_scope="module", autouse=True)
async def setup(billing: RunningBilling) -> None:
    body = {"tariff_id": "STD", "currency": "EUR", "energy_price_per_kwh": "0.35", "time_price_per_hour": "1.20",
            "session_fee": "1.00", "vat_percent": "19", "default": True}  # fmt: skip
    await billing.post("/tariffs", body, expect=201)
    gold = {"plan_id": "GOLD", "name": "Gold", "currency": "EUR", "monthly_fee": "9.99", "included_kwh": "10",
            "energy_discount_percent": "10", "session_fee_discount_percent": "100", "vat_percent": "19"}  # fmt: skip
    await billing.post("/plans", gold, expect=201)
    for driver in ("D-POST", "D-POST2"):
        await billing.post(f"/drivers/{driver}/payment-methods", {"type": "postpaid"}, expect=201)
    sub = {"driver_id": "D-POST", "plan_id": "GOLD", "starts_at": "2026-11-01T00:00:00Z"}
    await billing.post("/subscriptions", sub, expect=201)


async def test_plan_applies_at_pricing_with_included_kwh_once_per_month(billing: RunningBilling) -> None:
    await billing.publish(ended("S-P1", "CP-1", T0, T0 + timedelta(minutes=75), 22_500, driver_id="D-POST"))
    cdr = await billing.cdr("S-P1")
    assert [(x["kind"], x["dimension"], x["amount"]) for x in cdr["lines"]] == [
        ("tariff", "ENERGY", "7.88"),
        ("plan_included_energy", "ENERGY", "-3.50"),  # 10 kWh x 0.35
        ("plan_discount", "ENERGY", "-0.44"),  # 10% of 4.38
        ("tariff", "TIME", "1.50"),
        ("tariff", "FLAT", "1.00"),
        ("plan_discount", "FLAT", "-1.00"),
    ]
    assert (cdr["total_excl_vat"], cdr["total_vat"], cdr["total_incl_vat"]) == ("5.44", "1.03", "6.47")
    assert cdr["subscription_id"]
    # The CDR commits before its payment is driven (due -> postpaid): wait for that step, not for the CDR.
    await billing.payment("S-P1", state="postpaid")

    later = T0 + timedelta(days=2)
    await billing.publish(ended("S-P3", "CP-1", later, later + timedelta(minutes=30), 5_000, driver_id="D-POST"))
    second = await billing.cdr("S-P3")
    kinds = [x["kind"] for x in second["lines"]]
    assert "plan_included_energy" not in kinds and "plan_discount" in kinds  # the 10 kWh were used this month


async def test_month_run_issues_gapless_invoices_once(billing: RunningBilling) -> None:
    await billing.publish(ended("S-P2", "CP-1", T0, T0 + timedelta(minutes=75), 22_500, driver_id="D-POST2"))
    await billing.cdr("S-P2")
    await billing.cdr("S-P3")
    runs = await asyncio.gather(*(billing.post("/invoices/run", {"period": "2026-11"}, expect=200) for _ in range(3)))
    issued = sorted((d for run in runs for d in run["items"]), key=lambda d: d["number"])
    assert [(d["number"], d["driver_id"]) for d in issued] == [
        (f"INV-{YEAR}-000001", "D-POST"),
        (f"INV-{YEAR}-000002", "D-POST2"),
    ]
    first = issued[0]
    # S-P3: 5 kWh 1.75, 10% off -0.18, 1800 s 0.60, fee 1.00 -1.00 -> 2.17 (+ VAT 0.4123 -> 0.41)
    assert [(x["kind"], x["amount"], x["vat"]) for x in first["lines"]] == [
        ("session", "5.44", "1.03"),
        ("session", "2.17", "0.41"),
        ("subscription_fee", "9.99", "1.90"),  # 19% of 9.99 = 1.8981
    ]
    assert (first["total_excl_vat"], first["total_vat"], first["total_incl_vat"]) == ("17.60", "3.34", "20.94")
    assert issued[1]["total_incl_vat"] == "12.35"
    assert (await billing.post("/invoices/run", {"period": "2026-11"}, expect=200))["items"] == []


async def test_issued_invoices_are_immutable_and_corrected_by_credit_notes(billing: RunningBilling) -> None:
    [invoice] = (await billing.get("/invoices", driver_id="D-POST", kind="invoice"))["items"]
    fee_index = next(i for i, x in enumerate(invoice["lines"]) if x["kind"] == "subscription_fee")
    note = await billing.post(f"/invoices/{invoice['invoice_id']}/credit-notes",
                              {"reason": "plan fee waived", "lines": [{"line": fee_index, "amount": "9.99"}]},
                              expect=201)  # fmt: skip
    assert note["number"] == f"CN-{YEAR}-000001" and note["corrects"] == invoice["invoice_id"]
    assert (note["total_excl_vat"], note["total_vat"]) == ("-9.99", "-1.90")
    over = await billing.api.post(f"/api/v1/invoices/{invoice['invoice_id']}/credit-notes",
                                  json={"reason": "again", "lines": [{"line": fee_index, "amount": "0.01"}]},
                                  headers=ADMIN)  # fmt: skip
    assert over.status_code == 422 and "at most 0.00" in over.json()["detail"]
    rest = await billing.post(f"/invoices/{invoice['invoice_id']}/credit-notes", {"reason": "goodwill"}, expect=201)
    assert rest["number"] == f"CN-{YEAR}-000002"
    assert float(rest["total_incl_vat"]) + float(note["total_incl_vat"]) == pytest.approx(
        -float(invoice["total_incl_vat"])
    )
    nothing = await billing.api.post(f"/api/v1/invoices/{invoice['invoice_id']}/credit-notes",
                                     json={"reason": "third"}, headers=ADMIN)  # fmt: skip
    assert nothing.status_code == 422

    unchanged = await billing.get(f"/invoices/{invoice['invoice_id']}")
    assert unchanged["lines"] == invoice["lines"] and unchanged["number"] == invoice["number"]
    patch = await billing.api.patch(f"/api/v1/invoices/{invoice['invoice_id']}", json={}, headers=ADMIN)
    assert patch.status_code == 405
    paid = await billing.post(f"/invoices/{invoice['invoice_id']}/mark-paid", expect=200)
    assert paid["payment_status"] == "paid" and paid["total_incl_vat"] == invoice["total_incl_vat"]


async def test_subscriptions_one_at_a_time_and_cancel(billing: RunningBilling) -> None:
    duplicate = await billing.api.post("/api/v1/subscriptions", json={"driver_id": "D-POST", "plan_id": "GOLD"},
                                       headers=ADMIN)  # fmt: skip
    assert duplicate.status_code == 409
    unknown = await billing.api.post("/api/v1/subscriptions", json={"driver_id": "D-X", "plan_id": "NOPE"},
                                     headers=ADMIN)  # fmt: skip
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "body.plan_id"
    [sub] = (await billing.get("/subscriptions", driver_id="D-POST"))["items"]
    cancelled = await billing.post(f"/subscriptions/{sub['subscription_id']}/cancel", expect=200)
    assert cancelled["cancelled_at"] is not None
    await billing.post("/subscriptions", {"driver_id": "D-POST", "plan_id": "GOLD"}, expect=201)

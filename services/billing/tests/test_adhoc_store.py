"""A guest pays on the QR page of a billing service running over real Kafka and PostgreSQL: the pages, the hold,
the session's events as the session service publishes them, the capture of the CDR total and the receipt.

The auth and session services are the fakes of billing_fakes (the whole chain runs in
tests-e2e/test_qr_pay_e2e.py, in a browser)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from billing_fakes import FakeGuestStarts, RecordingMailer
from billing_testing import ADMIN, RunningBilling, ended, eventually, running_billing, started

pytestmark = pytest.mark.asyncio(loop_scope="module")
STARTS, MAIL = FakeGuestStarts(), RecordingMailer()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def billing(kafka: Any, postgres: Any) -> AsyncIterator[RunningBilling]:
    settings = {"adhoc_hold_amount": {"EUR": "25.00"}, "public_url": "https://pay.example.com"}
    async with running_billing(kafka, postgres, guest_starts=STARTS, mail=MAIL, **settings) as running:
        tariff = {"tariff_id": "QR", "currency": "EUR", "energy_price_per_kwh": "0.40", "session_fee": "1.00",
                  "vat_percent": "19", "default": True}  # fmt: skip
        await running.post("/tariffs", tariff, expect=201)
        yield running


async def test_a_guest_pays_exactly_the_cdr_total_and_the_rest_is_released(billing: RunningBilling) -> None:
    page = await billing.api.get("/pay/CP-QR/1")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "0.40 EUR/kWh excl. VAT (0.48 EUR incl. VAT)" in page.text and "25.00 EUR" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    adhoc_id = re.search(r'name="adhoc_id" value="(adh_[0-9a-f]{24})"', page.text).group(1)  # type: ignore[union-attr]
    fields = await billing.api.get("/sandbox/hosted-fields")
    assert fields.status_code == 200 and 'id="card-number"' in fields.text
    card = await billing.api.post("/sandbox/tokens", json={"number": "4242 4242 4242 4242"})
    assert card.json() == {"token": "tok_visa", "label": "Visa •••• 4242"}

    form = {"adhoc_id": adhoc_id, "card_token": "tok_visa", "card_label": "Visa •••• 4242", "email": "g@example.com"}
    submitted = await billing.api.post("/pay/CP-QR/1", data=form)
    assert submitted.status_code == 303 and submitted.headers["location"] == f"/pay/status/{adhoc_id}"
    [token] = [t for station, evse, t in STARTS.starts if (station, evse) == ("CP-QR", 1)]
    assert token.startswith("GST")
    status = await billing.api.get(f"/pay/status/{adhoc_id}")
    assert 'data-state="starting"' in status.text and "25.00 EUR pre-authorised" in status.text

    begin = datetime.now(UTC).replace(microsecond=0)
    await billing.publish(started("S-QR-1", "CP-QR", begin, id_token=token))
    await eventually(lambda: billing.api.get(f"/pay/status/{adhoc_id}"), ok=lambda r: 'data-state="charging"' in r.text)
    await billing.publish(ended("S-QR-1", "CP-QR", begin, begin + timedelta(minutes=30), 10_000, id_token=token))
    cdr = await billing.cdr("S-QR-1")
    assert cdr["total_incl_vat"] == "5.95"  # (10 kWh x 0.40 + 1.00) x 1.19
    receipt = await eventually(
        lambda: billing.api.get(f"/pay/status/{adhoc_id}"), ok=lambda r: 'id="captured">5.95 EUR' in r.text
    )
    assert 'id="receipt-total">5.95 EUR' in receipt.text and 'id="released">19.05 EUR' in receipt.text
    ops = (await billing.get("/sandbox/operations"))["items"]
    mine = [(o["kind"], o["amount"]) for o in ops if o["key"].split(":")[0] in (adhoc_id, "S-QR-1")]
    assert mine == [("authorize", "25.00"), ("capture", "5.95")]
    payment = await billing.payment("S-QR-1", state="paid")
    assert (payment["captured"], payment["driver_id"]) == ("5.95", None)
    await eventually(lambda: _async(MAIL.sent), ok=bool)
    [(to, _, body)] = [m for m in MAIL.sent if cdr["cdr_id"] in m[1]]
    assert to == "g@example.com" and "Total: 5.95 EUR" in body
    assert STARTS.tokens[token] == "Expired"


async def test_bad_input_on_the_page_is_refused_with_a_reason(billing: RunningBilling) -> None:
    no_card = await billing.api.post("/pay/CP-QR/1", data={"adhoc_id": "adh_" + "1" * 24, "card_token": ""})
    assert no_card.status_code == 422 and "Enter your card first" in no_card.text
    bad_mail = await billing.api.post("/pay/CP-QR/1", data={"card_token": "tok_visa", "email": "not-an-address"})
    assert bad_mail.status_code == 422 and "e-mail address" in bad_mail.text
    stale = await billing.api.post("/pay/CP-QR/1", data={"adhoc_id": "x", "card_token": "tok_visa"})
    assert stale.status_code == 422 and "expired" in stale.text
    assert (await billing.api.get("/pay/CP-QR/0")).status_code == 422
    assert (await billing.api.get("/pay/status/adh_" + "2" * 24)).status_code == 404
    card = await billing.api.post("/sandbox/tokens", json={"number": "1234"})
    assert card.status_code == 422 and card.headers["content-type"] == "application/problem+json"
    assert card.json()["errors"][0]["field"] == "body.number" and "not valid" in card.json()["detail"]


async def test_a_charger_in_use_is_refused_before_any_hold(billing: RunningBilling) -> None:
    await billing.publish(started("S-BUSY-1", "CP-BUSY", datetime.now(UTC), id_token="RFID-1"))
    await eventually(lambda: billing.api.get("/api/v1/sessions/S-BUSY-1/cost", headers=ADMIN),
                     ok=lambda r: r.status_code == 200)  # fmt: skip
    before = len((await billing.get("/sandbox/operations"))["items"])
    busy = await billing.api.post("/pay/CP-BUSY/1", data={"adhoc_id": "adh_" + "3" * 24, "card_token": "tok_visa"})
    assert busy.status_code == 409 and "in use right now" in busy.text
    assert len((await billing.get("/sandbox/operations"))["items"]) == before
    free = await billing.api.post("/pay/CP-BUSY/2", data={"adhoc_id": "adh_" + "4" * 24, "card_token": "tok_visa"})
    assert free.status_code == 303  # another EVSE of the same station is free


async def test_operators_print_a_qr_code_per_evse(billing: RunningBilling) -> None:
    svg = await billing.api.get("/api/v1/stations/CP-QR/evses/2/qr.svg", headers=ADMIN)
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content
    png = await billing.api.get("/api/v1/stations/CP-QR/evses/2/qr.png", headers=ADMIN)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert (await billing.api.get("/api/v1/stations/CP-QR/evses/2/qr.svg")).status_code == 401


async def test_card_testing_is_stopped_per_client(billing: RunningBilling) -> None:
    """Runs last in this module: it uses up this client's submissions for the hour."""
    for _ in range(billing.settings.adhoc_max_attempts_per_hour + 1):
        answer = await billing.api.post("/pay/CP-QR/1", data={"card_token": "tok_declined"})
        if answer.status_code == 429:
            break
    assert answer.status_code == 429 and "Too many attempts" in answer.text


async def _async(value: Any) -> Any:
    return value

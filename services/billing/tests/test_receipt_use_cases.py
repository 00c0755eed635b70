"""The drivers' receipts and card top-ups as use cases on in-memory fakes (billing_fakes), milliseconds each.
Over Kafka and PostgreSQL the same flows are test_me.py."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

import pytest
from billing_fakes import NOW, Fakes, fake_billing
from voltline_billing.domain.receipts import BillingDetails, Seller
from voltline_billing.domain.tariffs import simple_tariff
from voltline_billing.service_layer import driver_payments, receipts, tariffs
from voltline_billing.service_layer.context import Invalid, NotFound
from voltline_billing.service_layer.sessions import Ended, Started, session_ended, session_started

STD = simple_tariff("STD", "EUR", Decimal("0.35"), time_price_per_hour=Decimal("1.20"), session_fee=Decimal("1.00"),
                    vat_percent=Decimal("19"))  # fmt: skip
SELLER = Seller("Voltline GmbH", "Musterweg 1, Berlin", "DE123456789")


@pytest.fixture
def fakes() -> Fakes:
    return fake_billing()


async def charge(fakes: Fakes, session_id: str, driver_id: str) -> str:
    started = Started(uuid4(), session_id, "CP-1", 1, 1, "TOKEN-1", driver_id, NOW)
    await session_started(fakes.ctx, started)
    await session_ended(fakes.ctx, Ended(uuid4(), started, NOW + timedelta(minutes=75), 22_500, "Remote", (), ()))
    async with fakes.uow() as uow:
        cdr = await uow.cdrs.by_session(session_id)
    assert cdr is not None
    return cdr.cdr_id


async def test_a_receipt_is_numbered_once_in_a_gap_free_series_with_the_cdr_figures(fakes: Fakes) -> None:
    await tariffs.create_tariff(fakes.ctx, STD, default=True)
    await receipts.set_station_address(fakes.ctx, "CP-1", "Hauptstr. 1, Berlin")
    first, second = await charge(fakes, "S-1", "D-1"), await charge(fakes, "S-2", "D-1")

    one = await receipts.receipt(fakes.ctx, SELLER, "D-1", first)
    assert one["number"] == f"RCT-{NOW.year}-000001"
    assert (one["total_excl_vat"], one["total_vat"], one["total_incl_vat"]) == ("10.38", "1.97", "12.35")
    assert one["station_address"] == "Hauptstr. 1, Berlin" and one["seller"]["vat_id"] == "DE123456789"
    assert one["payment"]["method"] == "none"  # no payment method: nothing charged
    fakes.clock.advance(timedelta(days=1))
    assert await receipts.receipt(fakes.ctx, SELLER, "D-1", first) == one  # the same number and date
    assert (await receipts.receipt(fakes.ctx, SELLER, "D-1", second))["number"] == f"RCT-{NOW.year}-000002"
    assert one["buyer"] == {"driver_id": "D-1", "name": None, "address": None, "vat_id": None}
    details = BillingDetails("ACME Fleet GmbH", "Werkstr. 2, Hamburg", "DE999999999")
    await receipts.set_billing_details(fakes.ctx, "D-1", details)
    assert await receipts.receipt(fakes.ctx, SELLER, "D-1", first) == one  # issued: keeps its buyer
    third = await receipts.receipt(fakes.ctx, SELLER, "D-1", await charge(fakes, "S-3", "D-1"))
    assert third["buyer"] == {"driver_id": "D-1"} | details.to_json()
    with pytest.raises(NotFound):  # another driver's CDR: as if it did not exist, and no number is taken
        await receipts.receipt(fakes.ctx, SELLER, "D-2", first)
    assert fakes.store.tables["series"][f"RCT-{NOW.year}"] == 3


async def test_a_card_top_up_charges_once_per_key_and_needs_a_card(fakes: Fakes) -> None:
    with pytest.raises(Invalid, match="add a card first"):
        await driver_payments.top_up_by_card(fakes.ctx, "D-1", Decimal("10"), "EUR", "k", None)
    await driver_payments.add_method(fakes.ctx, "D-1", "card", "tok_visa", None, default=False)
    for _ in range(3):
        wallet = await driver_payments.top_up_by_card(fakes.ctx, "D-1", Decimal("10"), "EUR", "k", None)
    assert wallet["balance"] == "10.00"
    assert [(op["kind"], op["amount"]) for op in fakes.provider.operations] == [("sale", "10.00")]

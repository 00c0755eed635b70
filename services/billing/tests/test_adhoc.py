"""Ad-hoc payment by guests: the rules (domain/adhoc.py) and the use cases (service_layer/adhoc.py) on fakes.

Over Kafka and PostgreSQL: test_adhoc_store.py; in a real browser with every service: tests-e2e/test_qr_pay_e2e.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

import pytest
from billing_fakes import NOW, Fakes, fake_billing
from voltline_billing.adapters.sandbox_cards import CardRefused, tokenize
from voltline_billing.domain import adhoc as dom
from voltline_billing.domain.adhoc import AdhocState
from voltline_billing.domain.money import Money
from voltline_billing.domain.payments import Outcome, State
from voltline_billing.domain.tariffs import simple_tariff
from voltline_billing.service_layer import adhoc, tariffs
from voltline_billing.service_layer.context import Conflict, Invalid, NotFound
from voltline_billing.service_layer.sessions import Ended, Started, session_ended, session_started

STD = simple_tariff("STD", "EUR", Decimal("0.35"), time_price_per_hour=Decimal("1.20"), session_fee=Decimal("1.00"),
                    vat_percent=Decimal("19"))  # fmt: skip
ADHOC_ID = "adh_" + "0" * 23 + "1"


def guest(**changes: object) -> dom.GuestPayment:
    g = dom.begin(ADHOC_ID, "CP-1", 1, Money.of("30", "EUR"), dom.guest_token("0123456789abcdef"), "tok_visa",
                  "Visa •••• 4242", None, NOW)  # fmt: skip
    return replace(g, **changes)  # type: ignore[arg-type]


# -- the rules


def test_a_guest_token_fits_a_16_idtag_and_the_hold_is_per_currency() -> None:
    token = dom.guest_token("0123456789abcdef")
    assert token == "GST0123456789ABCDEF" and len(token) <= 20
    assert dom.hold_amount("EUR", {"EUR": Decimal("30")}, Decimal("50")) == Money(Decimal("30.00"), "EUR")
    assert dom.hold_amount("JPY", {}, Decimal("5000.4")) == Money(Decimal("5000"), "JPY")
    with pytest.raises(dom.AdhocError):
        dom.begin(ADHOC_ID, "CP-1", 1, Money.of("0", "EUR"), token, "tok_visa", None, None, NOW)


def test_the_hold_decides_whether_the_charger_is_started() -> None:
    held = dom.after_hold(guest(), Outcome("ok", provider_ref="pi_1"))
    assert (held.state, held.provider_ref) == (AdhocState.STARTING, "pi_1")
    declined = dom.after_hold(guest(), Outcome("insufficient_funds", message="insufficient_funds"))
    assert declined.state is AdhocState.DECLINED and "insufficient funds" in (declined.message or "")
    unknown = dom.after_hold(guest(), Outcome("timeout"))
    assert unknown.state is AdhocState.HOLDING and unknown.message  # submitted again, same key
    assert dom.after_hold(held, Outcome("declined")) == held  # a late answer changes nothing


def test_the_session_payment_takes_the_hold_over_or_asks_a_new_one() -> None:
    held = dom.after_hold(guest(), Outcome("ok", provider_ref="pi_1"))
    payment = dom.session_payment(held, "pay_1", "S-1")
    assert (payment.state, payment.held, payment.provider_ref, payment.driver_id) == (
        State.AUTHORIZED, Decimal("30.00"), "pi_1", None)  # fmt: skip
    released = dom.start_refused(held, "station_timeout")
    assert released.state is AdhocState.START_FAILED and "did not answer" in (released.message or "")
    late = dom.session_payment(released, "pay_2", "S-2")  # the station started after all: a new hold
    assert late.state is State.PENDING_HOLD and late.hold_amount == Decimal("30.00")
    charging = dom.linked(held, "S-1")
    assert dom.start_refused(charging, "station_timeout") == charging


def test_the_sandbox_hosted_fields_turn_test_numbers_into_tokens() -> None:
    assert tokenize("4242 4242 4242 4242") == ("tok_visa", "Visa •••• 4242")
    assert tokenize("4000000000000002")[0] == "tok_declined"
    assert tokenize("4000-0000-0000-9995")[0] == "tok_insufficient_funds"
    with pytest.raises(CardRefused):
        tokenize("4242 4242 4242 4241")  # fails the Luhn check


def test_card_submissions_are_limited_per_client_in_a_sliding_window() -> None:
    limit = dom.AttemptLimit(limit=3, window_s=3600)
    assert [limit.allow("10.0.0.1", t) for t in (0, 10, 20, 30)] == [True, True, True, False]
    assert limit.allow("10.0.0.2", 30)  # another client
    assert not limit.allow("10.0.0.1", 3599) and limit.allow("10.0.0.1", 3601)  # the first one left the window


# -- the use cases


@pytest.fixture
async def fakes() -> Fakes:
    f = fake_billing()
    await tariffs.create_tariff(f.ctx, STD, default=True)
    return f


def started_for(token: str, session_id: str = "S-1") -> Started:
    return Started(uuid4(), session_id, "CP-1", 1, 1, token, None, NOW)


async def test_a_guest_pays_the_cdr_total_and_gets_the_rest_back(fakes: Fakes) -> None:
    offer = await adhoc.offer(fakes.ctx, "CP-1", 1)
    assert offer.hold == Money(Decimal("30.00"), "EUR") and offer.prices["energy_price_per_kwh"] == Decimal("0.35")

    g = await adhoc.pay(fakes.ctx, ADHOC_ID, "CP-1", 1, "tok_visa", "Visa •••• 4242", "guest@example.com")
    again = await adhoc.pay(fakes.ctx, ADHOC_ID, "CP-1", 1, "tok_visa", "Visa •••• 4242", "guest@example.com")
    assert g.state is AdhocState.STARTING and again == g  # a double submit holds and starts once
    assert fakes.starts.starts == [("CP-1", 1, g.id_token)] and fakes.starts.tokens[g.id_token] == "Accepted"
    assert [(op["kind"], op["key"], op["amount"]) for op in fakes.provider.operations] == [
        ("authorize", f"{ADHOC_ID}:hold", "30.00")
    ]

    start = started_for(g.id_token)
    await session_started(fakes.ctx, start)
    assert (await adhoc.status_of(fakes.ctx, ADHOC_ID)).state is AdhocState.CHARGING
    await session_ended(fakes.ctx, Ended(uuid4(), start, NOW + timedelta(minutes=75), 22_500, "Remote", (), ()))

    view = await adhoc.view(fakes.ctx, ADHOC_ID)
    assert view.cdr is not None and view.cdr.priced.total_incl_vat == Decimal("12.35")
    assert view.payment is not None and (view.payment.state, view.payment.captured) == (State.PAID, Decimal("12.35"))
    assert view.released == Decimal("17.65") and view.guest.state is AdhocState.ENDED
    intent = fakes.provider.intents[g.provider_ref or ""]
    assert (intent.authorized, intent.captured, intent.status) == (Decimal("30.00"), Decimal("12.35"), "succeeded")
    assert fakes.starts.tokens[g.id_token] == "Expired"  # one session per token
    [(to, subject, body)] = fakes.mailer.sent
    assert to == "guest@example.com" and view.cdr.cdr_id in subject and "Total: 12.35 EUR" in body
    assert "Released from the pre-authorisation: 17.65 EUR" in body


async def test_a_declined_card_starts_nothing(fakes: Fakes) -> None:
    g = await adhoc.pay(fakes.ctx, ADHOC_ID, "CP-1", 1, "tok_declined", None, None)
    assert g.state is AdhocState.DECLINED and "declined" in (g.message or "")
    assert fakes.starts.starts == [] and fakes.starts.tokens == {}


async def test_an_offline_charger_releases_the_hold_at_once(fakes: Fakes) -> None:
    fakes.starts.refuse = "station_offline"
    g = await adhoc.pay(fakes.ctx, ADHOC_ID, "CP-1", 1, "tok_visa", None, None)
    assert g.state is AdhocState.START_FAILED and "offline" in (g.message or "")
    assert [op["kind"] for op in fakes.provider.operations] == ["authorize", "release"]
    assert fakes.provider.intents[g.provider_ref or ""].status == "canceled"


async def test_more_than_the_hold_is_charged_to_the_same_card(fakes: Fakes) -> None:
    g = await adhoc.pay(fakes.ctx, ADHOC_ID, "CP-1", 1, "tok_visa", None, None)
    start = started_for(g.id_token)
    await session_started(fakes.ctx, start)
    await session_ended(fakes.ctx, Ended(uuid4(), start, NOW + timedelta(hours=2), 100_000, "Remote", (), ()))
    view = await adhoc.view(fakes.ctx, ADHOC_ID)
    assert view.payment is not None and view.payment.state is State.PAID and view.cdr is not None
    assert view.payment.captured == view.cdr.priced.total_incl_vat > Decimal("30")
    assert [op["kind"] for op in fakes.provider.operations] == ["authorize", "release", "sale"]
    assert view.released == Decimal("30.00")  # the whole hold went back, the total was charged anew
    assert fakes.mailer.sent == []  # no address given


async def test_bad_input_is_refused_by_name(fakes: Fakes) -> None:
    with pytest.raises(Invalid) as bad_id:
        await adhoc.pay(fakes.ctx, "adh_nope", "CP-1", 1, "tok_visa", None, None)
    assert bad_id.value.field == "adhoc_id"
    with pytest.raises(NotFound):  # no tariff applies: nothing can be priced, nothing is held
        await adhoc.pay(fake_billing().ctx, ADHOC_ID, "CP-1", 1, "tok_visa", None, None)


async def test_a_charger_that_never_starts_gives_the_hold_back(fakes: Fakes) -> None:
    g = await adhoc.pay(fakes.ctx, ADHOC_ID, "CP-1", 1, "tok_visa", None, None)
    assert await adhoc.release_unstarted(fakes.ctx, 300) == 0  # not yet
    fakes.clock.advance(timedelta(minutes=6))
    assert await adhoc.release_unstarted(fakes.ctx, 300) == 1
    late = await adhoc.status_of(fakes.ctx, ADHOC_ID)
    assert late.state is AdhocState.START_FAILED and "in time" in (late.message or "")
    assert fakes.provider.intents[g.provider_ref or ""].status == "canceled"
    start = started_for(g.id_token)  # the car is plugged in after all: the session asks for a hold of its own
    await session_started(fakes.ctx, start)
    async with fakes.uow() as uow:
        payment = await uow.payments.by_session("S-1")
    assert payment is not None and payment.state is State.AUTHORIZED and payment.provider_ref != g.provider_ref


async def test_an_offline_charger_is_refused_before_any_hold(fakes: Fakes) -> None:
    fakes.starts.online = False
    with pytest.raises(Conflict, match="offline"):
        await adhoc.pay(fakes.ctx, ADHOC_ID, "CP-1", 1, "tok_visa", None, None)
    assert fakes.provider.operations == [] and fakes.starts.tokens == {}

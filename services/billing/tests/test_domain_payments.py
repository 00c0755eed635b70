"""The payment state machine, the wallet ledger and credit-note rules, without I/O."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from voltline_billing.domain import invoices as inv
from voltline_billing.domain import ledger
from voltline_billing.domain import payments as pay
from voltline_billing.domain.money import Money, round_money
from voltline_billing.domain.payments import Action, Outcome, State

OK, TIMEOUT, DECLINED = Outcome("ok", "pi_1"), Outcome("timeout"), Outcome("declined", message="card_declined")


def card(hold: str = "50.00") -> pay.Payment:
    return pay.start("p1", "S1", "D1", "card", "pm1", "EUR", D(hold))


def step(p: pay.Payment, outcome: Outcome) -> tuple[pay.Payment, Action]:
    action = pay.next_action(p)
    assert action is not None
    return pay.after(pay.begin(p, action), action, outcome), action


def test_card_hold_capture_and_keys_derived_from_the_session() -> None:
    p, action = step(card(), OK)
    assert (action.kind, action.idempotency_key, p.state, p.held) == ("authorize", "S1:hold", State.AUTHORIZED, D(50))
    p = pay.set_due(p, D("12.35"))
    assert p.state is State.CAPTURING
    p, action = step(p, OK)
    assert (action.kind, action.amount, action.idempotency_key) == ("capture", D("12.35"), "S1:capture")
    assert (p.state, p.captured, p.held) == (State.PAID, D("12.35"), D(0))
    assert pay.next_action(p) is None
    assert pay.set_due(p, D("99")) is p  # a duplicate session.ended changes nothing


def test_timeouts_keep_the_same_key_until_answered() -> None:
    p, first = step(card(), TIMEOUT)
    assert p.state is State.AUTHORIZING and p.last_error
    p, second = step(p, TIMEOUT)
    assert second == first
    p = pay.set_due(p, D("5"))  # the session ends while the hold is unanswered
    p, _ = step(p, OK)
    assert p.state is State.CAPTURING  # the hold came through: capture straight away


def test_zero_cost_releases_and_an_overage_is_charged_anew() -> None:
    p, _ = step(card(), OK)
    p = pay.set_due(p, D(0))
    p, action = step(p, OK)
    assert (action.kind, p.state) == ("release", State.RELEASED)
    p, _ = step(card("10.00"), OK)
    p = pay.set_due(p, D("12.35"))
    p, action = step(p, OK)
    assert (action.kind, p.state) == ("release", State.DUE)
    p, action = step(p, OK)
    assert (action.kind, action.amount, action.idempotency_key, p.state) == (
        "sale",
        D("12.35"),
        "S1:sale:1",
        State.PAID,
    )


def test_declines_fail_visibly_and_a_retry_uses_a_new_sale_key() -> None:
    p, _ = step(card(), DECLINED)
    assert p.state is State.HOLD_DECLINED
    with pytest.raises(pay.PaymentError, match="has not ended"):
        pay.retry(p)
    p = pay.set_due(p, D("12.35"))
    p, action = step(p, DECLINED)
    assert (action.idempotency_key, p.state, p.last_error) == ("S1:sale:1", State.FAILED, "card_declined")
    p = pay.retry(p)
    assert (p.state, p.attempt, pay.next_action(p).idempotency_key) == (State.DUE, 2, "S1:sale:2")  # type: ignore[union-attr]
    with pytest.raises(pay.PaymentError):
        pay.retry(pay.after(p, pay.next_action(p), OK))  # type: ignore[arg-type]


def test_wallet_postpaid_and_unassigned() -> None:
    w = pay.set_due(pay.start("p", "S", "D", "wallet", "m", "EUR", D(0)), D(3))
    assert pay.next_action(w) == Action("wallet_charge", D(3), "S:charge")
    assert pay.after(w, pay.next_action(w), Outcome("insufficient_funds")).state is State.FAILED  # type: ignore[arg-type]
    post = pay.set_due(pay.start("p", "S", "D", "postpaid", "m", "EUR", D(0)), D(3))
    assert pay.after(post, pay.next_action(post), OK).state is State.POSTPAID  # type: ignore[arg-type]
    anon = pay.set_due(pay.start("p", "S", None, "card", None, "EUR", D(50)), D(3))
    assert (anon.state, pay.next_action(anon)) == (State.UNASSIGNED, None)
    assigned = pay.assign(anon, "D9", "card", "pm9")
    assert pay.next_action(assigned).kind == "sale"  # type: ignore[union-attr]


def test_refund_limits() -> None:
    p, _ = step(pay.set_due(step(card(), OK)[0], D("10.00")), OK)
    pay.check_refund(p, D("10.00"))
    with pytest.raises(pay.PaymentError, match=r"at most 10\.00"):
        pay.check_refund(p, D("10.01"))
    with pytest.raises(pay.PaymentError, match="positive"):
        pay.check_refund(p, D(0))


def test_ledger_entries_balance_and_wallets_stay_above_the_limit() -> None:
    entry = ledger.top_up("D1", D("20"), "EUR", "t1")
    assert sum(p.amount for p in entry.postings) == 0
    assert ledger.wallet_balance(sum(p.amount for p in entry.postings if p.account == "wallet:D1")) == D(20)
    with pytest.raises(ledger.InsufficientFunds):
        ledger.charge("D1", D("20.01"), "EUR", "c1", balance=D(20), credit_limit=D(0))
    ledger.charge("D1", D("25"), "EUR", "c1", balance=D(20), credit_limit=D(5))
    with pytest.raises(ledger.LedgerError, match="does not balance"):
        ledger.Entry("x", "EUR", "r", (ledger.Posting("a", D(1)), ledger.Posting("b", D(-2))))


def test_money_rounds_half_up_to_the_minor_unit() -> None:
    assert round_money(D("2.345"), "EUR") == D("2.35")
    assert round_money(D("-2.345"), "EUR") == D("-2.35")
    assert round_money(D("2.5"), "JPY") == D("3")
    assert round_money(D("1.2345"), "KWD") == D("1.235")
    assert Money.of("12.35", "EUR").minor == 1235
    assert str(Money.of("7", "EUR")) == "7.00 EUR"


def test_credit_notes_never_exceed_the_invoice() -> None:
    lines = (
        inv.InvoiceLine("session", "cdr1", "s", D("10.00"), D(19), D("1.90")),
        inv.InvoiceLine("subscription_fee", "sub:2026-11", "fee", D("9.99"), D(19), D("1.90")),
    )
    partial = inv.credit_lines(lines, {}, {0: D("5.00")}, "EUR")
    assert [(x.amount, x.vat) for x in partial] == [(D("-5.00"), D("-0.95"))]
    credited = inv.credited_by_line([tuple(partial)])
    rest = inv.credit_lines(lines, credited, None, "EUR")
    assert [(x.amount, x.vat) for x in rest] == [(D("-5.00"), D("-0.95")), (D("-9.99"), D("-1.90"))]
    with pytest.raises(inv.InvoiceError, match=r"at most 5\.00"):
        inv.credit_lines(lines, credited, {0: D("5.01")}, "EUR")
    assert inv.document_number("invoice", 2026, 7) == "INV-2026-000007"

"""The payment of one session, as a state machine with no I/O.

The service layer asks `next_action` what to do, performs it (a provider call, or a wallet charge),
and feeds the outcome back through `after`. Each provider call carries an idempotency key derived from
the session id: an outcome we did not learn (a timeout) is retried with the SAME key, so the provider
applies it at most once; only a definite failure followed by an explicit retry uses a new key. So
a duplicate session.ended, a crash, or a retry can never charge twice.

    card:  pending_hold -> authorizing -> authorized -> capturing -> paid
                                    \\-> hold_declined     \\-> releasing -> released (nothing due)
           due (no usable hold) -> charging -> paid | failed --retry--> due
    wallet: due -> paid | failed (insufficient funds) --retry after a top-up--> due
    postpaid: due -> postpaid (on the monthly invoice)        no driver: unassigned --assign--> due
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Literal


class State(StrEnum):
    PENDING_HOLD = "pending_hold"
    AUTHORIZING = "authorizing"  # hold requested, outcome not yet known
    AUTHORIZED = "authorized"
    HOLD_DECLINED = "hold_declined"
    DUE = "due"  # amount known, to be charged without a hold
    CAPTURING = "capturing"
    RELEASING = "releasing"
    CHARGING = "charging"
    PAID = "paid"
    RELEASED = "released"  # the hold was given back and nothing is owed
    FAILED = "failed"  # definitively refused: visible, recoverable by retry
    POSTPAID = "postpaid"  # collected on the monthly invoice (invoice_id once issued)
    UNASSIGNED = "unassigned"  # no driver known: an operator must assign it


IN_FLIGHT = frozenset({State.AUTHORIZING, State.CAPTURING, State.RELEASING, State.CHARGING})
SETTLED = frozenset({State.PAID, State.RELEASED, State.POSTPAID})
Method = Literal["card", "wallet", "postpaid", "none"]
ActionKind = Literal["authorize", "capture", "release", "sale", "wallet_charge", "invoice"]
# How a due payment is charged, by method ("none" is never due).
_CHARGE_OF: dict[str, ActionKind] = {"card": "sale", "wallet": "wallet_charge", "postpaid": "invoice"}
OutcomeKind = Literal["ok", "declined", "insufficient_funds", "failed", "timeout"]


class PaymentError(ValueError):
    """An operation that the payment's state does not allow; the message says why."""


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    amount: Decimal
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    provider_ref: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class Payment:
    payment_id: str
    session_id: str
    driver_id: str | None
    method: Method
    method_id: str | None
    currency: str
    state: State
    hold_amount: Decimal = Decimal(0)
    held: Decimal = Decimal(0)
    due: Decimal | None = None  # None until the CDR exists
    captured: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)
    attempt: int = 1
    provider_ref: str | None = None
    last_error: str | None = None

    def key(self, kind: str) -> str:
        """Idempotency keys: one per session and operation; a sale gets a new one per explicit retry."""
        return f"{self.session_id}:{kind}:{self.attempt}" if kind == "sale" else f"{self.session_id}:{kind}"

    @property
    def refundable(self) -> Decimal:
        return self.captured - self.refunded


def start(payment_id: str, session_id: str, driver_id: str | None, method: Method, method_id: str | None,
          currency: str, hold_amount: Decimal) -> Payment:  # fmt: skip
    if method == "none" or driver_id is None:
        return Payment(payment_id, session_id, driver_id, "none", None, currency, State.UNASSIGNED)
    state = State.PENDING_HOLD if method == "card" and hold_amount > 0 else State.DUE
    return Payment(payment_id, session_id, driver_id, method, method_id, currency, state, hold_amount=hold_amount)


def next_action(p: Payment) -> Action | None:
    """What to do now; None when nothing can happen until something outside changes."""
    match p.state:
        case State.PENDING_HOLD | State.AUTHORIZING:
            return Action("authorize", p.hold_amount, p.key("hold"))
        case State.CAPTURING:
            assert p.due is not None
            return Action("capture", p.due, p.key("capture"))
        case State.RELEASING:
            return Action("release", p.held, p.key("release"))
        case State.CHARGING:
            assert p.due is not None
            return Action("sale", p.due, p.key("sale"))
        case State.DUE if p.due is not None:
            kind = _CHARGE_OF[p.method]
            return Action(kind, p.due, p.key(kind if kind == "sale" else "charge"))
    return None


def begin(p: Payment, action: Action) -> Payment:
    """Record that a provider call is about to be made (so a crash leaves it retryable, same key)."""
    flight = {"authorize": State.AUTHORIZING, "capture": State.CAPTURING, "release": State.RELEASING}
    flight["sale"] = State.CHARGING
    return replace(p, state=flight.get(action.kind, p.state))


def set_due(p: Payment, amount: Decimal) -> Payment:
    """The CDR is priced: decide how the amount is collected."""
    if p.due is not None:
        return p  # already known: a duplicate session.ended changes nothing
    p = replace(p, due=amount)
    return _settle_hold(p) if p.state in (State.AUTHORIZED, State.HOLD_DECLINED, State.DUE) else p


def _settle_hold(p: Payment) -> Payment:
    assert p.due is not None
    if p.state is State.AUTHORIZED:
        if p.due == 0 or p.due > p.held:
            return replace(p, state=State.RELEASING)  # an overage is charged anew once the hold is back
        return replace(p, state=State.CAPTURING)
    if p.due == 0:
        return replace(p, state=State.RELEASED)
    return replace(p, state=State.DUE)


def after(p: Payment, action: Action, outcome: Outcome) -> Payment:
    if outcome.kind == "timeout":
        return replace(p, last_error=outcome.message or "the payment provider did not answer in time")
    error = None if outcome.kind == "ok" else (outcome.message or outcome.kind)
    p = replace(p, last_error=error, provider_ref=outcome.provider_ref or p.provider_ref)
    ok = outcome.kind == "ok"
    match action.kind:
        case "authorize":
            p = replace(p, state=State.AUTHORIZED, held=action.amount) if ok else replace(p, state=State.HOLD_DECLINED)
            return _settle_hold(p) if p.due is not None else p
        case "capture":
            return replace(p, state=State.PAID, captured=action.amount, held=Decimal(0)) if ok else _failed(p)
        case "release":
            p = replace(p, held=Decimal(0))  # a refused release expires at the provider anyway
            return replace(p, state=State.RELEASED if not p.due else State.DUE)
        case "sale" | "wallet_charge":
            return replace(p, state=State.PAID, captured=action.amount) if ok else _failed(p)
        case "invoice":
            return replace(p, state=State.POSTPAID)
    raise PaymentError(f"unknown action {action.kind}")


def _failed(p: Payment) -> Payment:
    return replace(p, state=State.FAILED, held=Decimal(0))


def retry(p: Payment) -> Payment:
    """An operator (or the driver, after fixing the card or topping up) tries a failed payment again."""
    if p.state in IN_FLIGHT:
        return p  # same key again: whatever the provider did, it is done once
    if p.state not in (State.FAILED, State.HOLD_DECLINED):
        raise PaymentError(f"payment {p.payment_id} is {p.state.value}; only failed payments can be retried")
    if p.due is None:
        raise PaymentError(f"session {p.session_id} has not ended yet; its payment is collected when it does")
    return replace(p, state=State.DUE, attempt=p.attempt + 1, last_error=None)


def assign(p: Payment, driver_id: str, method: Method, method_id: str | None) -> Payment:
    if p.state is not State.UNASSIGNED:
        raise PaymentError(f"payment {p.payment_id} already belongs to driver {p.driver_id}")
    p = replace(p, driver_id=driver_id, method=method, method_id=method_id, state=State.DUE)
    return replace(p, state=State.RELEASED) if p.due == 0 else p


def check_refund(p: Payment, amount: Decimal) -> None:
    if amount <= 0:
        raise PaymentError("a refund amount must be positive")
    if p.state is not State.PAID:
        raise PaymentError(f"payment {p.payment_id} is {p.state.value}; only paid payments can be refunded")
    if amount > p.refundable:
        raise PaymentError(f"at most {p.refundable} {p.currency} of payment {p.payment_id} can still be refunded")

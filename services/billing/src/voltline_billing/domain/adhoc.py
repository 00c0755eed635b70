"""A guest paying by card at a charger without an account (EU AFIR ad-hoc payment), with no I/O.

The guest's hold is placed before any session exists, so it is not the session payment's `S-1:hold`: it
has its own key (`<adhoc_id>:hold`, the id the payment page generated, so a double submit holds once).
Once the station starts, the session's payment takes the hold over as `authorized` and the ordinary state
machine (domain/payments.py) captures the CDR total and releases the rest.

    holding --ok--> starting --session.started--> charging --CDR--> ended
       \\--declined--> declined        \\--offline/busy/refused--> start_failed (hold released)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from voltline_billing.domain.money import Money
from voltline_billing.domain.payments import Outcome, Payment, State

ADHOC_ID = re.compile(r"^adh_[0-9a-f]{24}$")
GUEST_TOKEN_PREFIX = "GST"  # + 16 hex: 19 characters, so a 1.6 idTag (20 at most) carries it


class AdhocState(StrEnum):
    HOLDING = "holding"  # hold asked, answer not known yet: asked again with the same key
    DECLINED = "declined"  # the card refused the hold: nothing started, nothing held
    STARTING = "starting"  # hold placed, remote start asked
    START_FAILED = "start_failed"  # station offline, busy or refusing: the hold is released
    CHARGING = "charging"  # the session started; its payment holds the money
    ENDED = "ended"  # the CDR exists: the total captured, the rest released


class AdhocError(ValueError):
    """A guest payment cannot do what was asked; the message is for the guest."""


@dataclass(frozen=True)
class GuestPayment:
    adhoc_id: str
    station_id: str
    evse_id: int
    currency: str
    hold_amount: Decimal
    id_token: str
    card_token: str
    card_label: str | None
    email: str | None
    state: AdhocState
    created_at: datetime
    provider_ref: str | None = None
    session_id: str | None = None
    message: str | None = None  # why it was declined or refused, for the page

    @property
    def hold_key(self) -> str:
        return f"{self.adhoc_id}:hold"

    @property
    def release_key(self) -> str:
        return f"{self.adhoc_id}:release"

    @property
    def hold(self) -> Money:
        return Money(self.hold_amount, self.currency)


def check_adhoc_id(value: str) -> str:
    if not ADHOC_ID.match(value):
        raise AdhocError("this payment form has expired: reload the page")
    return value


def guest_token(random_hex: str) -> str:
    """A one-time `Central` token for the guest's session (the station shows it as the session's idTag)."""
    if not re.fullmatch(r"[0-9a-f]{16}", random_hex):
        raise ValueError("a guest token needs 16 lowercase hex characters")
    return GUEST_TOKEN_PREFIX + random_hex.upper()


def hold_amount(currency: str, per_currency: Mapping[str, Decimal], fallback: Decimal) -> Money:
    """The pre-authorisation for a currency: its configured amount, else the card hold of billing."""
    return Money.of(per_currency.get(currency, fallback), currency)


def begin(adhoc_id: str, station_id: str, evse_id: int, hold: Money, id_token: str, card_token: str,
          card_label: str | None, email: str | None, now: datetime) -> GuestPayment:  # fmt: skip
    if hold.amount <= 0:
        raise AdhocError(f"no pre-authorisation amount is configured for {hold.currency}")
    if not card_token:
        raise AdhocError("enter your card first")
    return GuestPayment(adhoc_id, station_id, evse_id, hold.currency, hold.amount, id_token, card_token,
                        card_label, email or None, AdhocState.HOLDING, now)  # fmt: skip


_DECLINE_TEXT = {
    "declined": "Your card was declined. Try another card.",
    "insufficient_funds": "Your card was declined for insufficient funds. Try another card.",
    "failed": "The payment could not be authorised. Try another card.",
}


def after_hold(g: GuestPayment, outcome: Outcome) -> GuestPayment:
    if g.state is not AdhocState.HOLDING:
        return g
    if outcome.kind == "ok":
        return replace(g, state=AdhocState.STARTING, provider_ref=outcome.provider_ref, message=None)
    if outcome.kind == "timeout":
        return replace(g, message="The payment service did not answer. Please try again.")
    detail = f" ({outcome.message})" if outcome.message else ""
    return replace(
        g, state=AdhocState.DECLINED, message=_DECLINE_TEXT.get(outcome.kind, _DECLINE_TEXT["failed"]) + detail
    )


_REFUSAL_TEXT = {
    "station_offline": "This charger is offline right now. Nothing was charged.",
    "station_rejected": "The charger refused to start: it may be in use or out of order. Nothing was charged.",
    "station_timeout": "The charger did not answer. Nothing was charged.",
    "gateway_timeout": "The charger did not answer. Nothing was charged.",
    "id_token_not_accepted": "The charger could not authorise this payment. Nothing was charged.",
    "unknown_station": "This charger is not known. Nothing was charged.",
    "not_started": "The charger did not start charging in time. Nothing was charged.",
}


def start_refused(g: GuestPayment, code: str | None, detail: str | None = None) -> GuestPayment:
    """The remote start failed: the hold is to be released (unless a session started meanwhile)."""
    if g.state is not AdhocState.STARTING:
        return g
    text = _REFUSAL_TEXT.get(code or "", "The charger could not be started. Nothing was charged.")
    return replace(g, state=AdhocState.START_FAILED, message=text if not detail else f"{text} ({detail})")


def linked(g: GuestPayment, session_id: str) -> GuestPayment:
    return replace(g, state=AdhocState.CHARGING, session_id=session_id)


def ended(g: GuestPayment) -> GuestPayment:
    return replace(g, state=AdhocState.ENDED)


def session_payment(g: GuestPayment, payment_id: str, session_id: str) -> Payment:
    """The session's payment of a guest: it takes over the hold placed before the start; a session that
    started after the hold was given back (a start that answered too late) asks for a new one."""
    if g.state is AdhocState.STARTING and g.provider_ref:
        return Payment(payment_id, session_id, None, "card", None, g.currency, State.AUTHORIZED,
                       hold_amount=g.hold_amount, held=g.hold_amount, provider_ref=g.provider_ref)  # fmt: skip
    return Payment(
        payment_id, session_id, None, "card", None, g.currency, State.PENDING_HOLD, hold_amount=g.hold_amount
    )


@dataclass
class AttemptLimit:
    """At most `limit` card submissions per client address in a sliding `window_s` (in one process).

    Ad-hoc pages are where stolen cards get tested: a thief submits many numbers until one holds. Each
    submission counts, whatever its outcome."""

    limit: int
    window_s: float
    _seen: dict[str, list[float]] = field(default_factory=dict)

    def allow(self, client: str, now_s: float) -> bool:
        recent = [t for t in self._seen.get(client, []) if now_s - t < self.window_s]
        if len(recent) >= self.limit:
            self._seen[client] = recent
            return False
        recent.append(now_s)
        self._seen[client] = recent
        if len(self._seen) > 10_000:  # forget clients whose window has passed
            self._seen = {k: v for k, v in self._seen.items() if v and now_s - v[-1] < self.window_s}
        return True

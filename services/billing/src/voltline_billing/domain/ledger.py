"""Prepaid wallets as a double-entry ledger.

Every movement is a journal entry of postings that sum to zero (positive = debit, negative = credit),
so the ledger as a whole always balances. A driver's wallet is a liability account: money we hold for
them, so its balance is the negative of its postings. Accounts:

- `wallet:<driver_id>`   what the driver has prepaid (never below zero, unless a credit limit allows)
- `funding:<channel>`    money received for top-ups (card, bank transfer, cash desk...)
- `revenue:charging`     what charging sessions earned
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

REVENUE = "revenue:charging"


class LedgerError(ValueError):
    pass


class InsufficientFunds(LedgerError):
    def __init__(self, driver_id: str, balance: Decimal, amount: Decimal, currency: str) -> None:
        super().__init__(
            f"wallet of driver {driver_id} holds {balance} {currency}, {amount} {currency} is needed; top it up"
        )
        self.balance = balance


def wallet_account(driver_id: str) -> str:
    return f"wallet:{driver_id}"


def funding_account(channel: str) -> str:
    return f"funding:{channel}"


@dataclass(frozen=True, slots=True)
class Posting:
    account: str
    amount: Decimal  # debit positive, credit negative


@dataclass(frozen=True)
class Entry:
    kind: str  # top_up | charge | refund | adjustment
    currency: str
    reference: str  # unique per effect: a top-up id, a payment's idempotency key, a refund id
    postings: tuple[Posting, ...]

    def __post_init__(self) -> None:
        if len(self.postings) < 2:
            raise LedgerError("a journal entry needs at least two postings")
        if sum((p.amount for p in self.postings), Decimal(0)) != 0:
            raise LedgerError(f"journal entry {self.reference} does not balance")


def _positive(amount: Decimal) -> None:
    if amount <= 0:
        raise LedgerError("an amount must be positive")


def top_up(driver_id: str, amount: Decimal, currency: str, reference: str, channel: str = "manual") -> Entry:
    _positive(amount)
    postings = (Posting(funding_account(channel), amount), Posting(wallet_account(driver_id), -amount))
    return Entry("top_up", currency, reference, postings)


def charge(
    driver_id: str, amount: Decimal, currency: str, reference: str, balance: Decimal, credit_limit: Decimal
) -> Entry:
    """Pay a session from the wallet; refused (InsufficientFunds) if it would go below -credit_limit."""
    _positive(amount)
    if balance - amount < -credit_limit:
        raise InsufficientFunds(driver_id, balance, amount, currency)
    return Entry("charge", currency, reference, (Posting(wallet_account(driver_id), amount), Posting(REVENUE, -amount)))


def refund(driver_id: str, amount: Decimal, currency: str, reference: str) -> Entry:
    _positive(amount)
    return Entry("refund", currency, reference, (Posting(REVENUE, amount), Posting(wallet_account(driver_id), -amount)))


def wallet_balance(postings_sum: Decimal) -> Decimal:
    """A wallet is a liability: what the driver can spend is the credit balance."""
    return -postings_sum

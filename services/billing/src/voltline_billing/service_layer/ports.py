"""What the billing use cases need from the outside world, as protocols the adapters implement."""

from __future__ import annotations

from typing import Protocol

from voltline_billing.domain.money import Money
from voltline_billing.domain.payments import Outcome


class ProviderTimeout(Exception):
    """The provider did not answer: the operation may or may not have happened (retry with the same key)."""


class PaymentProvider(Protocol):
    """A card payment service provider. Every call carries an idempotency key: the provider applies a key
    once and answers a repeated key with the first result. Card tokens come from the provider's own
    client-side flow; billing never sees a card number."""

    name: str

    async def authorize(self, *, token: str, amount: Money, key: str, reference: str) -> Outcome:
        """Place a hold (pre-authorisation) of `amount`; provider_ref names it for capture/release."""
        ...

    async def capture(self, *, ref: str, amount: Money, key: str) -> Outcome:
        """Take `amount` (at most the hold) and give the rest of the hold back."""
        ...

    async def release(self, *, ref: str, key: str) -> Outcome:
        """Give a whole hold back."""
        ...

    async def sale(self, *, token: str, amount: Money, key: str, reference: str) -> Outcome:
        """Authorise and capture at once (no hold was placed, or it was too small)."""
        ...

    async def refund(self, *, ref: str, amount: Money, key: str) -> Outcome: ...

"""A built-in payment provider for development and tests: deterministic outcomes chosen by magic card tokens.

| token                      | what happens                                                         |
|----------------------------|----------------------------------------------------------------------|
| `tok_visa` (or any other)  | everything succeeds                                                  |
| `tok_declined`             | holds and sales are declined (card_declined)                         |
| `tok_insufficient_funds`   | holds and sales are declined (insufficient_funds)                    |
| `tok_timeout`              | no call is ever answered (and none is applied)                       |
| `tok_timeout_once`         | a first call per key is applied but not answered; a retry with that key gets the answer |

`outage = True` makes every call go unanswered (and unapplied) until it is set back, as in a PSP outage.
Like a real PSP it remembers every idempotency key and answers a repeated key with the first result
without applying it again, and refuses to capture more than was held or refund more than was taken.
State lives in memory, so it resets with the process.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from voltline_billing.domain.money import Money
from voltline_billing.domain.payments import Outcome
from voltline_billing.service_layer.ports import ProviderTimeout

DECLINES = {"tok_declined": "card_declined", "tok_insufficient_funds": "insufficient_funds"}


@dataclass
class _Intent:
    token: str
    currency: str
    authorized: Decimal
    captured: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)
    status: str = "requires_capture"


@dataclass
class SandboxProvider:
    name: str = "sandbox"
    outage: bool = False
    intents: dict[str, _Intent] = field(default_factory=dict)
    operations: list[dict[str, Any]] = field(default_factory=list)
    _answers: dict[str, Outcome] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _call(self, kind: str, key: str, token: str, amount: Money | None, apply: Any) -> Outcome:
        if token == "tok_timeout" or self.outage:
            raise ProviderTimeout(f"sandbox: {kind} not answered (tok_timeout)")
        if key in self._answers:
            return self._answers[key]
        outcome: Outcome = apply()
        self._answers[key] = outcome
        self.operations.append(
            {"kind": kind, "key": key, "amount": None if amount is None else amount.as_str(), "outcome": outcome.kind,
             "ref": outcome.provider_ref},
        )  # fmt: skip
        if token == "tok_timeout_once":
            raise ProviderTimeout(f"sandbox: {kind} applied but not answered (tok_timeout_once)")
        return outcome

    def _new_ref(self, prefix: str) -> str:
        return f"{prefix}_sandbox_{next(self._ids):06d}"

    def _token_of(self, ref: str) -> str:
        intent = self.intents.get(ref)
        return intent.token if intent else "tok_visa"

    async def authorize(self, *, token: str, amount: Money, key: str, reference: str) -> Outcome:
        def apply() -> Outcome:
            if token in DECLINES:
                return Outcome("insufficient_funds" if token == "tok_insufficient_funds" else "declined",
                               message=DECLINES[token])  # fmt: skip
            ref = self._new_ref("pi")
            self.intents[ref] = _Intent(token, amount.currency, amount.amount)
            return Outcome("ok", provider_ref=ref)

        return self._call("authorize", key, token, amount, apply)

    async def capture(self, *, ref: str, amount: Money, key: str) -> Outcome:
        def apply() -> Outcome:
            intent = self.intents.get(ref)
            if intent is None or intent.status != "requires_capture":
                return Outcome("failed", ref, "no hold to capture")
            if amount.amount > intent.authorized:
                return Outcome("failed", ref, f"cannot capture {amount} of a {intent.authorized} hold")
            intent.captured, intent.status = amount.amount, "succeeded"
            return Outcome("ok", ref)

        return self._call("capture", key, self._token_of(ref), amount, apply)

    async def release(self, *, ref: str, key: str) -> Outcome:
        def apply() -> Outcome:
            intent = self.intents.get(ref)
            if intent is None or intent.status != "requires_capture":
                return Outcome("failed", ref, "no hold to release")
            intent.status = "canceled"
            return Outcome("ok", ref)

        return self._call("release", key, self._token_of(ref), None, apply)

    async def sale(self, *, token: str, amount: Money, key: str, reference: str) -> Outcome:
        def apply() -> Outcome:
            if token in DECLINES:
                return Outcome("insufficient_funds" if token == "tok_insufficient_funds" else "declined",
                               message=DECLINES[token])  # fmt: skip
            ref = self._new_ref("pi")
            self.intents[ref] = _Intent(token, amount.currency, amount.amount, amount.amount, status="succeeded")
            return Outcome("ok", provider_ref=ref)

        return self._call("sale", key, token, amount, apply)

    async def refund(self, *, ref: str, amount: Money, key: str) -> Outcome:
        def apply() -> Outcome:
            intent = self.intents.get(ref)
            if intent is None or intent.status != "succeeded":
                return Outcome("failed", message="nothing was captured on this payment")
            if intent.refunded + amount.amount > intent.captured:
                return Outcome("failed", message="refund exceeds the captured amount")
            intent.refunded += amount.amount
            return Outcome("ok", provider_ref=self._new_ref("re"))

        return self._call("refund", key, self._token_of(ref), amount, apply)

    def summary(self) -> dict[str, Any]:
        return {
            "operations": self.operations,
            "intents": {
                ref: {"status": i.status, "currency": i.currency, "authorized": str(i.authorized),
                      "captured": str(i.captured), "refunded": str(i.refunded)}
                for ref, i in self.intents.items()
            },
        }  # fmt: skip

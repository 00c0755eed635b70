"""The payment-provider port over Stripe's PaymentIntents API, through Stripe's own Python SDK (async).

- hold: a PaymentIntent with capture_method=manual, confirmed off-session with the driver's saved
  payment method (`requires_capture`);
- capture: `amount_to_capture` (Stripe releases the rest of the hold); release: cancel the intent;
- sale: a PaymentIntent captured at once; refund: a Refund of the intent.

Our idempotency key goes in Stripe's `Idempotency-Key`, so a retried call after a timeout is applied
once. Network errors and 5xx/429 answers are "outcome unknown" (ProviderTimeout); card errors are
declines; anything else a definite failure. The tests run the real SDK against recorded responses.
"""

from __future__ import annotations

from typing import Any

import stripe

from voltline_billing.domain.money import Money
from voltline_billing.domain.payments import Outcome, OutcomeKind
from voltline_billing.service_layer.ports import ProviderTimeout


class StripeProvider:
    name = "stripe"

    def __init__(self, api_key: str, *, api_base: str | None = None, timeout_s: float = 10.0) -> None:
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=stripe.HTTPXClient(timeout=timeout_s),
            max_network_retries=0,  # we retry ourselves, with the same idempotency key
        )

    async def _run(self, call: Any) -> Any:
        try:
            return await call
        except stripe.CardError as exc:
            code = getattr(exc.error, "decline_code", None) or exc.code or "card_declined"
            kind: OutcomeKind = "insufficient_funds" if code == "insufficient_funds" else "declined"
            raise _Declined(Outcome(kind, message=f"{code}: {exc.user_message or exc}")) from None
        except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
            raise ProviderTimeout(f"stripe: {type(exc).__name__}") from exc
        except stripe.StripeError as exc:
            if (exc.http_status or 0) >= 500:
                raise ProviderTimeout(f"stripe answered {exc.http_status}") from exc
            raise _Declined(Outcome("failed", message=f"stripe: {exc.user_message or exc}")) from None

    async def _outcome(self, call: Any, ok_status: set[str]) -> Outcome:
        try:
            obj = await self._run(call)
        except _Declined as declined:
            return declined.outcome
        status = getattr(obj, "status", None)
        if status in ok_status:
            return Outcome("ok", provider_ref=obj.id)
        return Outcome("failed", provider_ref=getattr(obj, "id", None), message=f"stripe status {status}")

    async def authorize(self, *, token: str, amount: Money, key: str, reference: str) -> Outcome:
        params = {
            "amount": amount.minor, "currency": amount.currency.lower(), "payment_method": token, "confirm": True,
            "capture_method": "manual", "off_session": True, "metadata": {"session_id": reference},
        }  # fmt: skip
        # mypy: stripe's TypedDicts; params is a plain dict
        call = self._client.v1.payment_intents.create_async(params, {"idempotency_key": key})  # type: ignore[arg-type]
        return await self._outcome(call, {"requires_capture"})

    async def capture(self, *, ref: str, amount: Money, key: str) -> Outcome:
        params = {"amount_to_capture": amount.minor}
        # mypy: stripe's TypedDicts; params is a plain dict
        call = self._client.v1.payment_intents.capture_async(ref, params, {"idempotency_key": key})  # type: ignore[arg-type]
        return await self._outcome(call, {"succeeded"})

    async def release(self, *, ref: str, key: str) -> Outcome:
        call = self._client.v1.payment_intents.cancel_async(ref, None, {"idempotency_key": key})
        return await self._outcome(call, {"canceled"})

    async def sale(self, *, token: str, amount: Money, key: str, reference: str) -> Outcome:
        params = {
            "amount": amount.minor, "currency": amount.currency.lower(), "payment_method": token, "confirm": True,
            "off_session": True, "metadata": {"session_id": reference},
        }  # fmt: skip
        # mypy: stripe's TypedDicts; params is a plain dict
        call = self._client.v1.payment_intents.create_async(params, {"idempotency_key": key})  # type: ignore[arg-type]
        return await self._outcome(call, {"succeeded"})

    async def refund(self, *, ref: str, amount: Money, key: str) -> Outcome:
        params = {"payment_intent": ref, "amount": amount.minor}
        # mypy: stripe's TypedDicts; params is a plain dict
        call = self._client.v1.refunds.create_async(params, {"idempotency_key": key})  # type: ignore[arg-type]
        return await self._outcome(call, {"succeeded", "pending"})


class _Declined(Exception):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome

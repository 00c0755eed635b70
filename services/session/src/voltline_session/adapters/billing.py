"""Asks the billing service whether a driver can pay (service_layer.driver_sessions.PaymentCheck).

Billing answers it with two reads of its operator API: the driver's payment methods, then their wallet. The
session service calls it with the admin token every voltline service holds; one call per start from the app.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import httpx

from voltline_session.service_layer.driver_sessions import PaymentCheckUnavailable


class BillingPaymentCheck:
    def __init__(self, base_url: str, token: str, timeout_s: float = 3.0) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s
        )

    async def can_pay(self, driver_id: str) -> bool:
        try:
            methods = await self._client.get(f"/api/v1/drivers/{driver_id}/payment-methods")
            methods.raise_for_status()
            if methods.json().get("items"):
                return True
            wallet = await self._client.get(f"/api/v1/wallets/{driver_id}")
            if wallet.status_code == 404:
                return False
            wallet.raise_for_status()
            return Decimal(str(wallet.json().get("available") or "0")) > 0
        except (httpx.HTTPError, ValueError, InvalidOperation) as exc:
            raise PaymentCheckUnavailable(f"billing did not answer the payment check: {exc}") from exc

    async def close(self) -> None:
        await self._client.aclose()

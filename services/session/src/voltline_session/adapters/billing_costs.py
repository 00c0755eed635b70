"""Reads a session's cost so far from billing (service_layer.running_cost.CostSource), cached per session."""

from __future__ import annotations

import time
from decimal import Decimal, InvalidOperation

import httpx
from voltline_chassis import get_logger

from voltline_session.service_layer.running_cost import Cost

log = get_logger(__name__)


class BillingCosts:
    def __init__(self, base_url: str, token: str, *, ttl_s: float = 5.0, timeout_s: float = 2.0) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s
        )
        self._ttl = ttl_s
        self._cache: dict[str, tuple[float, Cost | None]] = {}

    async def cost(self, session_id: str) -> Cost | None:
        now = time.monotonic()
        cached = self._cache.get(session_id)
        if cached is not None and (now - cached[0] < self._ttl or (cached[1] is not None and cached[1].final)):
            return cached[1]
        found = await self._fetch(session_id)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[session_id] = (now, found)
        return found

    async def _fetch(self, session_id: str) -> Cost | None:
        try:
            answer = await self._client.get(f"/api/v1/sessions/{session_id}/cost")
            if answer.status_code == 404:
                return None  # billing has not seen the session yet
            answer.raise_for_status()
            body = answer.json()
            if not body.get("priced"):
                return None
            return Cost(body["currency"], Decimal(str(body["total_incl_vat"])), body.get("status") == "ended")
        except (httpx.HTTPError, ValueError, KeyError, InvalidOperation) as exc:
            log.warning("running_cost_unavailable", session_id=session_id, error=repr(exc))
            return None

    async def close(self) -> None:
        await self._client.aclose()

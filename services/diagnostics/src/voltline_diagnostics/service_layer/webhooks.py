"""Delivering queued webhook calls: signed JSON POSTs, retried with backoff, every attempt in the delivery log.

A delivery row is queued in the same transaction as the alert change it reports, so nothing is lost when
the service stops between the two; the worker claims due rows one by one (safe with several instances).
A 2xx answer is delivered; anything else (or no answer within the timeout) is retried after the backoff,
until the attempts run out (then `failed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import structlog
from voltline_chassis.metrics import counter

from voltline_diagnostics.domain.webhooks import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signature
from voltline_diagnostics.service_layer.context import HealthContext

log = structlog.get_logger()

DELIVERIES = counter("voltline_diagnostics_webhook_deliveries_total", "Webhook delivery attempts", ["outcome"])
LEASE = timedelta(seconds=60)


async def queue_test(ctx: HealthContext, webhook_id: str) -> str:
    """Queue a test delivery to one webhook (the "test button")."""
    now = ctx.clock()
    delivery_id = str(uuid4())
    body = json.dumps({"type": "diagnostics.webhook_test", "sent_at": now.isoformat(), "webhook_id": webhook_id})
    async with ctx.uow() as uow:
        await uow.webhooks.enqueue(
            delivery_id=delivery_id,
            webhook_id=webhook_id,
            event_type="diagnostics.webhook_test",
            body=body,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        await uow.commit()
    ctx.wake_deliveries()
    return delivery_id


async def _attempt(
    client: httpx.AsyncClient, hook: dict[str, Any], delivery: dict[str, Any]
) -> tuple[int | None, str | None]:
    body = delivery["body"].encode()
    headers = {
        "content-type": "application/json",
        SIGNATURE_HEADER: signature(hook["secret"], int(time.time()), body),
        EVENT_HEADER: delivery["event_type"],
        DELIVERY_HEADER: delivery["delivery_id"],
    }
    try:
        response = await client.post(hook["url"], content=body, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}"


async def deliver_due(
    ctx: HealthContext, client: httpx.AsyncClient, batch: int = 50, retries: list[datetime] | None = None
) -> int:
    """Attempt every due delivery once; the number attempted. The times of the retries it schedules are
    appended to `retries` (the worker wakes for them instead of polling often)."""
    now = ctx.clock()
    async with ctx.uow() as uow:
        due = await uow.webhooks.due(now, batch)
        claimed = []
        for d in due:
            if await uow.webhooks.claim(d["delivery_id"], d["next_attempt_at"], now + LEASE):
                claimed.append(d)
        # Read only when something is to be sent: this runs every second whatever happens.
        hooks = {h["webhook_id"]: h for h in await uow.webhooks.all()} if claimed else {}
        await uow.commit()
    for d in claimed:
        hook = hooks.get(d["webhook_id"])
        attempts = d["attempts"] + 1
        code: int | None
        error: str | None
        if hook is None or not hook["active"]:
            code, error = None, "webhook deleted"
        else:
            code, error = await _attempt(client, hook, d)
        finished: datetime = ctx.clock()
        if error is None:
            values: dict[str, Any] = {"status": "delivered", "delivered_at": finished, "last_error": None}
            DELIVERIES.labels("delivered").inc()
        elif ctx.backoff.gives_up(attempts) or hook is None or not hook["active"]:
            values = {"status": "failed", "last_error": error}
            DELIVERIES.labels("failed").inc()
        else:
            values = {"next_attempt_at": finished + ctx.backoff.delay(attempts), "last_error": error}
            if retries is not None:
                retries.append(values["next_attempt_at"])
            DELIVERIES.labels("retry").inc()
        async with ctx.uow() as uow:
            await uow.webhooks.record(d["delivery_id"], attempts=attempts, last_status_code=code, **values)
            await uow.commit()
    return len(claimed)


class DeliveryWorker:
    """Runs `deliver_due` whenever woken (a delivery was queued here), when a retry it scheduled is due, and
    at least every `poll` seconds (deliveries queued by another instance, leases of a crashed one)."""

    def __init__(self, ctx: HealthContext, *, poll: float = 1.0, timeout: float = 5.0) -> None:
        self.ctx, self.poll, self.timeout = ctx, poll, timeout
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._retries: list[datetime] = []

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            while True:
                self._wake.clear()
                try:
                    while await deliver_due(self.ctx, client, retries=self._retries):
                        pass
                except Exception:
                    log.exception("webhook delivery round failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._next_wait())

    def _next_wait(self) -> float:
        """Until the earliest retry this worker scheduled, at most `poll`."""
        now = self.ctx.clock()
        if not self._retries:
            return self.poll
        earliest = min(self._retries)
        # One already due (it fell due while the round ran, as on a loaded machine) means a round now: dropped
        # as past, the worker slept a whole poll before retrying it.
        self._retries = [t for t in self._retries if t > now]
        return max(0.0, min(self.poll, (earliest - now).total_seconds()))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="diagnostics-webhooks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

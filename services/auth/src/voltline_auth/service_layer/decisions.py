"""Answering the gateway's "may this token charge?" -- from the cache, audited in batches."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from voltline_chassis.logging import get_logger
from voltline_chassis.metrics import counter, histogram
from voltline_events.payloads.answers import AuthorizeAnswered
from voltline_events.payloads.authorization import AuthorizationDecision, AuthorizationRequested

from voltline_auth.domain.tokens import decide, needs_session_count, normalise, pick
from voltline_auth.service_layer.context import AuthContext, UowFactory

log = get_logger(__name__)
DECISIONS = counter("voltline_auth_decisions_total", "Authorisation decisions", ["purpose", "status"])
DECISION_LATENCY = histogram(
    "voltline_auth_decision_seconds",
    "Time to decide an authorisation (excluding the bus)",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
DECISION_LOG_DROPPED = counter("voltline_auth_decision_log_dropped_total", "Decision log rows dropped")


async def decide_authorization(
    ctx: AuthContext, record: Callable[[dict[str, Any]], None], station_id: str, request: AuthorizationRequested
) -> AuthorizationDecision:
    started = time.perf_counter()
    key = normalise(request.id_token.id_token)
    lookup = pick(await ctx.tokens.get(key), request.id_token.type, request.ocpp_version, ctx.type_match)
    active = None
    if needs_session_count(lookup, request.purpose):
        assert lookup.view is not None and lookup.view.token.driver_id is not None
        async with ctx.uow() as uow:
            active = await uow.sessions.count_for_driver(
                lookup.view.token.driver_id, station_id=station_id, evse_id=request.evse_id
            )
    now = ctx.clock()
    decision = decide(lookup, now=now, purpose=request.purpose, active_sessions=active)
    record(
        {
            "at": now,
            "station_id": station_id,
            "id_token_key": key,
            "token_type": request.id_token.type[:32],
            "purpose": request.purpose,
            "ocpp_version": request.ocpp_version,
            "status": decision.status,
            "reason": decision.reason[:200],
            "driver_id": decision.driver_id,
            "evse_id": request.evse_id,
            "transaction_id": request.transaction_id[:64] if request.transaction_id else None,
        }
    )
    DECISIONS.labels(request.purpose, decision.status).inc()
    DECISION_LATENCY.observe(time.perf_counter() - started)
    log.info(
        "authorization decided",
        station_id=station_id,
        purpose=request.purpose,
        status=decision.status,
        reason=decision.reason,
        driver_id=decision.driver_id,
    )
    return AuthorizationDecision(
        status=decision.status,
        expiry_date=decision.expiry_date,
        group_id_token=decision.group_id_token,
        language=decision.language,
        driver_id=decision.driver_id,
    )


def record_local_answer(
    record: Callable[[dict[str, Any]], None], station_id: str, answered: AuthorizeAnswered, at: datetime
) -> None:
    """An Authorize the gateway answered alone from the published decisions (ADR 0015) goes into the decision
    log like one decided here: the log is the audit trail, and it says which stations may have cached the token."""
    assert answered.id_token is not None
    DECISIONS.labels("authorize", answered.status).inc()
    record(
        {
            "at": at,
            "station_id": station_id,
            "id_token_key": normalise(answered.id_token.id_token),
            "token_type": answered.id_token.type[:32],
            "purpose": "authorize",
            "ocpp_version": answered.ocpp_version,
            "status": answered.status,
            "reason": "answered by the gateway from the published decision",
            "driver_id": None,
            "evse_id": None,
            "transaction_id": None,
        }
    )


class DecisionRecorder:
    """Buffers decision log rows and writes them in batches, off the decision's path.

    A crash loses at most one flush interval of rows; a database outage keeps up to `max_pending` rows
    (older ones are dropped and counted). `purge()` removes rows older than `retention` (housekeeping).
    """

    def __init__(
        self,
        uow: UowFactory,
        clock: Callable[[], datetime],
        *,
        flush_interval_s: float = 0.5,
        max_batch: int = 500,
        max_pending: int = 50_000,
        retention: timedelta = timedelta(days=30),
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._interval = flush_interval_s
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._retention = retention
        self._rows: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def record(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        if len(self._rows) > self._max_pending:
            dropped = len(self._rows) - self._max_pending
            del self._rows[:dropped]
            DECISION_LOG_DROPPED.inc(dropped)
        if len(self._rows) >= self._max_batch:
            self._wake.set()

    async def flush(self) -> None:
        async with self._lock:
            while self._rows:
                batch, self._rows = self._rows[: self._max_batch], self._rows[self._max_batch :]
                try:
                    async with self._uow() as uow:
                        await uow.decisions.add_many(batch)
                        await uow.commit()
                except Exception:
                    self._rows[:0] = batch  # keep them for the next try
                    raise

    async def purge(self) -> int:
        async with self._uow() as uow:
            removed = await uow.decisions.purge(self._clock() - self._retention)
            await uow.commit()
        return removed

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="decision-log")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.flush()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("decision log: could not write; will retry")

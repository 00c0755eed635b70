"""Publishing every token's Authorize answers ahead of time, so the gateway answers Authorize alone (ADR 0015).

Every change of a token or driver already invalidates the token cache after its commit; the feed listens to
that and republishes the changed value's answers (all of them after a driver change) from the store, within
milliseconds: a blocked card is refused by the gateways as soon as they read the record. The records are
not in the outbox: the whole table is republished at every start and after a broker reset, so a change whose
record was lost with a crash is put right then, and a record's `valid_until` covers expiries.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime

from voltline_chassis.logging import get_logger
from voltline_chassis.metrics import counter
from voltline_events.payloads import AuthorizationDecision, TokenDecisions

from voltline_auth.domain.tokens import Decision, TokenView, authorize_answers

log = get_logger(__name__)
PUBLISHED = counter("voltline_auth_token_decisions_published_total", "Token decision records published")

Loader = Callable[[str], Awaitable[list[TokenView]]]
KeysAfter = Callable[[str, int], Awaitable[list[str]]]
Send = Callable[[list[TokenDecisions]], Awaitable[None]]


def record_of(key: str, views: list[TokenView], now: datetime, match: str) -> TokenDecisions:
    answers, valid_until = authorize_answers(views, now=now, match=match)
    return TokenDecisions(
        id_token=key,
        decisions={presented: _wire(decision) for presented, decision in answers.items()},
        valid_until=valid_until,
        decided_at=now,
    )


def _wire(decision: Decision) -> AuthorizationDecision:
    return AuthorizationDecision(
        status=decision.status,
        expiry_date=decision.expiry_date,
        group_id_token=decision.group_id_token,
        language=decision.language,
        driver_id=decision.driver_id,
    )


class DecisionFeed:
    """Coalesces changed token values and publishes their records in batches, off the request's path."""

    def __init__(
        self,
        load: Loader,
        keys_after: KeysAfter,
        send: Send,
        clock: Callable[[], datetime],
        *,
        match: str,
        batch: int = 500,
        retry_s: float = 1.0,
    ) -> None:
        self._load, self._keys_after, self._send, self._clock = load, keys_after, send, clock
        self._match, self._batch, self._retry_s = match, batch, retry_s
        self._dirty: set[str] = set()
        self._everything = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._asked = self._done = 0  # changes announced / published
        self._progress = asyncio.Condition()

    def changed(self, key: str | None) -> None:
        """A token value changed (None: possibly all of them, e.g. a driver's language or standing)."""
        if key is None:
            self._everything = True
        else:
            self._dirty.add(key)
        self._asked += 1
        self._wake.set()

    async def published(self, timeout_s: float = 2.0) -> bool:
        """Wait until every change announced so far is on the broker (False: not within `timeout_s`), so an
        operator's "block this card" is answered once the gateways can read it."""
        target = self._asked
        try:
            async with asyncio.timeout(timeout_s), self._progress:
                await self._progress.wait_for(lambda: self._done >= target)
        except TimeoutError:
            return False
        return True

    async def start(self) -> None:
        """Republish every record (the broker may have forgotten them), then follow changes."""
        self.changed(None)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="decision-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def publish_pending(self) -> int:
        """Publish what changed since the last call; returns how many records went out."""
        sent = 0
        if self._everything:
            self._everything = False
            try:
                after = ""
                while True:
                    keys = await self._keys_after(after, self._batch)
                    if not keys:
                        break
                    self._dirty.difference_update(keys)
                    sent += await self._publish(keys)
                    after = keys[-1]
            except BaseException:
                self._everything = True
                raise
        while self._dirty:
            keys = sorted(self._dirty)[: self._batch]
            self._dirty.difference_update(keys)
            try:
                sent += await self._publish(keys)
            except BaseException:
                self._dirty.update(keys)
                raise
        return sent

    async def _publish(self, keys: list[str]) -> int:
        now = self._clock()
        records = [record_of(key, await self._load(key), now, self._match) for key in keys]
        await self._send(records)
        PUBLISHED.inc(len(records))
        return len(records)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            asked = self._asked
            try:
                await self.publish_pending()
                async with self._progress:
                    self._done = asked
                    self._progress.notify_all()
            except Exception:
                log.exception("token decisions not published; will retry")
                await asyncio.sleep(self._retry_s)
                self._wake.set()

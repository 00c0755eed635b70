"""The in-memory cache that keeps authorisation decisions off the database.

Entries are keyed by the normalised token id and hold every token with that id (so a 1.6 idTag of
unknown type is answered from one entry); unknown ids are cached too. A change made through this
instance invalidates at once; changes made by another replica are seen after at most `ttl_s`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from voltline_chassis.metrics import counter

from voltline_auth.domain.tokens import TokenView

Loader = Callable[[str], Awaitable[list[TokenView]]]

CACHE_LOOKUPS = counter("voltline_auth_token_cache_lookups_total", "Token cache lookups", ["result"])


class TokenCache:
    def __init__(
        self,
        load: Loader,
        *,
        ttl_s: float,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl_s
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, list[TokenView]]] = OrderedDict()
        # Bumped by every invalidation: a load that started before one must not store its (stale) result.
        self._generation = 0
        self._listeners: list[Callable[[str | None], None]] = []

    def listen(self, listener: Callable[[str | None], None]) -> None:
        """Also tell `listener` of every invalidation (the published decisions follow every token change)."""
        self._listeners.append(listener)

    async def get(self, key: str) -> list[TokenView]:
        now = self._clock()
        hit = self._entries.get(key)
        if hit is not None and now - hit[0] < self._ttl:
            self._entries.move_to_end(key)
            CACHE_LOOKUPS.labels("hit").inc()
            return hit[1]
        CACHE_LOOKUPS.labels("miss").inc()
        generation = self._generation
        views = await self._load(key)
        if generation == self._generation:
            self._entries[key] = (now, views)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return views

    def invalidate(self, key: str | None = None) -> None:
        """Forget one token id, or everything (a driver change touches all of its tokens)."""
        self._generation += 1
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)
        for listener in self._listeners:
            listener(key)

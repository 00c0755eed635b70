"""The decision cache: hits, expiry, invalidation (including a load racing an invalidation), size bound."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from voltline_auth.domain.tokens import IdToken, TokenView
from voltline_auth.service_layer.token_cache import TokenCache

NOW = datetime(2026, 11, 21, tzinfo=UTC)


def view(status: str) -> TokenView:
    return TokenView(IdToken("T", "ISO14443", status, None, None, None, NOW, NOW))  # type: ignore[arg-type]


class Store:
    def __init__(self) -> None:
        self.status = "Accepted"
        self.loads = 0
        self.gate: asyncio.Event | None = None

    async def load(self, key: str) -> list[TokenView]:
        self.loads += 1
        status = self.status
        if self.gate is not None:
            await self.gate.wait()
        return [view(status)]


async def test_hits_expiry_and_invalidation() -> None:
    store, clock = Store(), [0.0]
    cache = TokenCache(store.load, ttl_s=5, clock=lambda: clock[0])
    assert (await cache.get("T"))[0].token.status == "Accepted"
    store.status = "Blocked"
    assert (await cache.get("T"))[0].token.status == "Accepted" and store.loads == 1  # a hit
    cache.invalidate("T")
    assert (await cache.get("T"))[0].token.status == "Blocked"
    store.status = "Accepted"
    clock[0] = 5.0  # another replica's change shows after the TTL
    assert (await cache.get("T"))[0].token.status == "Accepted" and store.loads == 3


async def test_a_load_that_raced_an_invalidation_is_not_kept() -> None:
    store = Store()
    cache = TokenCache(store.load, ttl_s=60)
    store.gate = asyncio.Event()
    slow = asyncio.create_task(cache.get("T"))  # reads "Accepted", then waits
    await asyncio.sleep(0)
    store.status = "Blocked"
    cache.invalidate("T")
    store.gate.set()
    await slow
    store.gate = None
    assert (await cache.get("T"))[0].token.status == "Blocked"


async def test_size_is_bounded() -> None:
    store = Store()
    cache = TokenCache(store.load, ttl_s=60, max_entries=2)
    for key in ("A", "B", "C"):
        await cache.get(key)
    await cache.get("A")  # evicted as the least recently used
    assert store.loads == 4

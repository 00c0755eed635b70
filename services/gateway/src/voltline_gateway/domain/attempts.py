"""Failed connection attempts per address and per station: a fixed window per key, bounded in memory.

A wrong password costs the gateway next to nothing (the verifier is fast), but an address or station id
that keeps failing is told to back off (429 with Retry-After) before any check, so a flood neither fills
logs nor reaches the slow legacy (bcrypt) path. A station id under attack is not locked out: a correct
password still gets in (see adapters.upgrade).
"""

from __future__ import annotations

from collections import OrderedDict


class FailureWindow:
    """At most `limit` failures per key in `window` seconds; `max_keys` bounds memory under a spray."""

    def __init__(self, limit: int, window: float, *, max_keys: int = 100_000) -> None:
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._keys: OrderedDict[str, tuple[float, int]] = OrderedDict()  # key -> (window start, failures)

    def retry_after(self, key: str, now: float) -> float | None:
        """Seconds until `key` may try again, or None when it may now."""
        found = self._keys.get(key)
        if found is None:
            return None
        start, count = found
        if now - start >= self.window:
            del self._keys[key]
            return None
        return self.window - (now - start) if count >= self.limit else None

    def failed(self, key: str, now: float) -> None:
        start, count = self._keys.get(key, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        self._keys[key] = (start, count + 1)
        self._keys.move_to_end(key)
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)

    def succeeded(self, key: str) -> None:
        self._keys.pop(key, None)

    def __len__(self) -> int:
        return len(self._keys)

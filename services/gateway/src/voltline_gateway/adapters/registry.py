"""The gateway's local copy of the auth service's station registry, fed by its compacted topic.

A connect needs no synchronous lookup: the entry is in memory. Passwords are checked against the bcrypt
hash the registry carries; bcrypt is slow on purpose, so a verified (station, hash, password digest) is
remembered and a reconnect storm pays for it once per station, not once per connect. The digest is keyed
with a random per-process secret, so the cache is no dictionary of passwords even in a memory dump.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections import OrderedDict

import bcrypt
import structlog
from pydantic import ValidationError
from voltline_events import Envelope, decode_payload
from voltline_events.payloads import StationRegistered

from voltline_gateway.domain.security import RegistryEntry
from voltline_gateway.metrics import REGISTRY_SIZE

log = structlog.get_logger()


class StationRegistry:
    def __init__(self) -> None:
        self._entries: dict[str, RegistryEntry] = {}
        self._waiters: dict[str, asyncio.Event] = {}

    def get(self, station_id: str) -> RegistryEntry | None:
        return self._entries.get(station_id)

    def __len__(self) -> int:
        return len(self._entries)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """One record of the registry topic (TopicTail handler); a tombstone or `deleted` removes the station."""
        if key is None:
            return
        station_id = key.decode(errors="replace")
        if value is None:
            self._entries.pop(station_id, None)
            return
        try:
            envelope = Envelope.from_bytes(value)
            event = decode_payload(envelope)
        except (ValidationError, ValueError) as exc:
            log.warning("unreadable registry record skipped", station_id=station_id, error=str(exc)[:200])
            return
        if not isinstance(event, StationRegistered):
            return
        if event.deleted:
            self._entries.pop(station_id, None)
        else:
            self._entries[station_id] = RegistryEntry(
                status=event.status,
                security_profile=event.security_profile,
                password_hash=event.password_hash,
                certificate_fingerprint=event.certificate_fingerprint,
            )
            waiter = self._waiters.pop(station_id, None)
            if waiter is not None:
                waiter.set()
        REGISTRY_SIZE.set(len(self._entries))

    async def wait_for(self, station_id: str, timeout: float) -> RegistryEntry | None:  # noqa: ASYNC109
        """The entry, waiting up to `timeout` for one that was registered a moment ago and is still on its way."""
        entry = self._entries.get(station_id)
        if entry is not None or timeout <= 0:
            return entry
        waiter = self._waiters.setdefault(station_id, asyncio.Event())
        try:
            async with asyncio.timeout(timeout):
                await waiter.wait()
        except TimeoutError:
            if self._waiters.get(station_id) is waiter and not waiter.is_set():
                del self._waiters[station_id]
        return self._entries.get(station_id)


class PasswordChecker:
    """bcrypt checks off the event loop, a few at a time, remembering the answers."""

    def __init__(self, *, concurrency: int = 2, cache_size: int = 200_000) -> None:
        self._key = secrets.token_bytes(32)
        self._known: OrderedDict[tuple[str, str, bytes], bool] = OrderedDict()
        self._cache_size = cache_size
        self._slots = asyncio.Semaphore(concurrency)

    async def verify(self, station_id: str, password: str, password_hash: str) -> bool:
        digest = hmac.new(self._key, password.encode(), hashlib.sha256).digest()
        key = (station_id, password_hash, digest)
        known = self._known.get(key)
        if known is not None:
            return known
        async with self._slots:
            ok = await asyncio.to_thread(_bcrypt_check, password, password_hash)
        self._known[key] = ok
        if len(self._known) > self._cache_size:
            self._known.popitem(last=False)
        return ok


def _bcrypt_check(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), password_hash.encode())
    except ValueError:  # not a bcrypt hash
        return False

"""The gateway's local copy of the auth service's station registry, fed by its compacted topic.

A connect needs no synchronous lookup: the entry is in memory. Passwords are checked against the
verifiers the registry carries (a fast salted HMAC; legacy bcrypt hashes take a bounded slow path).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass

import bcrypt
import structlog
from pydantic import ValidationError
from voltline_chassis import station_secrets
from voltline_events import Envelope, decode_payload
from voltline_events.payloads import StationRegistered

from voltline_gateway.domain.security import RegistryEntry
from voltline_gateway.metrics import REGISTRY_SIZE

log = structlog.get_logger()


def entry_of(event: StationRegistered) -> RegistryEntry:
    return RegistryEntry(
        status=event.status,
        security_profile=event.security_profile,
        password_hash=event.password_hash,
        certificate_fingerprint=event.certificate_fingerprint,
        other_password_hashes=tuple(event.other_password_hashes),
    )


class StationRegistry:
    def __init__(self) -> None:
        self._entries: dict[str, RegistryEntry] = {}
        self._waiters: dict[str, asyncio.Event] = {}

    def get(self, station_id: str) -> RegistryEntry | None:
        return self._entries.get(station_id)

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, station_id: str, event: StationRegistered) -> None:
        """An entry the auth service gave in answer to a question (read-your-writes after a rotation)."""
        if event.deleted:
            self._entries.pop(station_id, None)
        else:
            self._entries[station_id] = entry_of(event)

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
            self._entries[station_id] = entry_of(event)
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


class SlowCheckBusy(Exception):
    """Too many legacy (bcrypt) checks are queued already: the caller answers 503 at once."""


@dataclass
class _SlowCheck:
    task: asyncio.Task[bool]
    waiters: int = 0
    started: bool = False


class PasswordChecker:
    """Checks a presented password against a station's verifiers.

    Fast verifiers (voltline_chassis.station_secrets) are checked inline: about a microsecond. Legacy bcrypt
    hashes take the slow path: off the event loop, `concurrency` at a time, at most `queue` distinct checks
    waiting (more: SlowCheckBusy), identical checks share one run, the answers are remembered (keyed with a
    per-process secret, so the cache holds no password), and a check nobody waits for any more (the station
    hung up, the handshake timed out) is dropped before it starts.
    """

    def __init__(self, *, concurrency: int = 2, queue: int = 32, cache_size: int = 200_000) -> None:
        self._key = secrets.token_bytes(32)
        self._known: OrderedDict[tuple[str, str, bytes], bool] = OrderedDict()
        self._cache_size = cache_size
        self._slots = asyncio.Semaphore(concurrency)
        self._queue = queue
        self._running: dict[tuple[str, str, bytes], _SlowCheck] = {}
        self.slow_checks = 0  # bcrypt runs started (for tests and the benchmark)

    def quick(self, station_id: str, password: str, hashes: tuple[str, ...]) -> tuple[bool, list[str]]:
        """(matched, legacy hashes still to check slowly)."""
        digest: bytes | None = None
        slow: list[str] = []
        for verifier in hashes:
            fast = station_secrets.check(password, verifier)
            if fast:
                return True, []
            if fast is None:
                digest = digest or self._digest(password)
                known = self._known.get((station_id, verifier, digest))
                if known:
                    return True, []
                if known is None:
                    slow.append(verifier)
        return False, slow

    async def verify(self, station_id: str, password: str, hashes: tuple[str, ...]) -> bool:
        matched, slow = self.quick(station_id, password, hashes)
        if matched:
            return True
        for verifier in slow:
            if await self.slow(station_id, password, verifier):
                return True
        return False

    async def slow(self, station_id: str, password: str, password_hash: str) -> bool:
        key = (station_id, password_hash, self._digest(password))
        check = self._running.get(key)
        if check is None:
            if len(self._running) >= self._queue:
                raise SlowCheckBusy
            check = _SlowCheck(asyncio.get_running_loop().create_task(self._run(key, password, password_hash)))
            self._running[key] = check
        check.waiters += 1
        try:
            return await asyncio.shield(check.task)
        finally:
            check.waiters -= 1
            if check.waiters == 0 and not check.started and not check.task.done():
                check.task.cancel()  # nobody wants the answer: give the slot to someone who does
                self._running.pop(key, None)

    async def _run(self, key: tuple[str, str, bytes], password: str, password_hash: str) -> bool:
        check = self._running[key]
        try:
            async with self._slots:
                check.started = True
                self.slow_checks += 1
                ok = await asyncio.to_thread(_bcrypt_check, password, password_hash)
        finally:
            if self._running.get(key) is check:
                del self._running[key]
        self._known[key] = ok
        if len(self._known) > self._cache_size:
            self._known.popitem(last=False)
        return ok

    def _digest(self, password: str) -> bytes:
        return hmac.new(self._key, password.encode(errors="surrogatepass"), hashlib.sha256).digest()


def _bcrypt_check(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(errors="surrogatepass"), password_hash.encode())
    except ValueError:  # not a bcrypt hash
        return False

"""Operator API keys: bearer tokens the auth service issues, checked by every service.

Keys are high-entropy random strings, so a fast SHA-256 is a safe way to store them: the auth service
keeps only the hash and publishes `auth.api_key` events (hash, role, revocation) on the compacted
`Topics.api_keys`. Any service keeps a local copy with :class:`ApiKeyFeed` and checks tokens with
:class:`ApiKeyVerifier` -- no call to the auth service per request, and a revocation reaches every
service as fast as Kafka delivers it (well under a second). The auth service itself looks keys up in
its own database with the same verifier (``ApiKeyVerifier(lookup=...)``).

A service built on `ServiceInfra` needs no wiring: it keeps the feed (`infra.api_keys`), starts and stops it
in `infra.lifespan(...)`, checks it in `infra.readiness_checks()` and verifies keys with `infra.verifier()`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from pydantic import ValidationError
from voltline_bus import BusConfig, FollowedRecord, TopicFollower, TopicSpec, ensure_topics
from voltline_events import Envelope, decode_payload
from voltline_events.payloads.auth import ApiKeyRegistered, DriverSigningKey

from voltline_chassis.driver_tokens import DriverKeyTable, key_record_is_authentic
from voltline_chassis.problems import Problem
from voltline_chassis.security import Principal

log = structlog.get_logger(__name__)

KEY_PREFIX = "vlk_"


def new_api_key() -> str:
    """A fresh key (256 bits of randomness); shown to its owner once, stored only as its hash."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def record_signing_key(admin_token: str) -> bytes:
    """The key that authenticates API-key records on the bus, derived from the bootstrap admin token.

    Every voltline service holds the admin token (it is the highest privilege there is), and nobody who
    merely reaches the broker does: so a record produced by anyone but a voltline service is refused.
    Changing the admin token changes this key; the auth service republishes every key at start-up.
    """
    return hmac.new(admin_token.encode(), b"voltline/api-key-records/v1", hashlib.sha256).digest()


def _signed_text(event: ApiKeyRegistered) -> bytes:
    fields = [
        event.key_id,
        event.name,
        event.role,
        event.key_hash,
        event.expires_at.isoformat() if event.expires_at else None,
        event.revoked,
        event.signed_at.isoformat() if event.signed_at else None,
    ]
    return json.dumps(fields, separators=(",", ":")).encode()


def sign_record(event: ApiKeyRegistered, key: bytes, now: datetime) -> ApiKeyRegistered:
    stamped = event.model_copy(update={"signed_at": now, "signature": None})
    signature = hmac.new(key, _signed_text(stamped), hashlib.sha256).hexdigest()
    return stamped.model_copy(update={"signature": signature})


def record_is_authentic(event: ApiKeyRegistered, key: bytes) -> bool:
    if event.signature is None or event.signed_at is None:
        return False
    expected = hmac.new(key, _signed_text(event), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, event.signature)


@dataclass(frozen=True)
class ApiKeyRecord:
    key_id: str
    name: str
    role: str
    key_hash: str
    expires_at: datetime | None = None
    revoked: bool = False
    signed_at: datetime | None = None

    @classmethod
    def of(cls, event: ApiKeyRegistered) -> ApiKeyRecord:
        return cls(
            event.key_id, event.name, event.role, event.key_hash, event.expires_at, event.revoked, event.signed_at
        )

    def active(self, now: datetime) -> bool:
        return not self.revoked and (self.expires_at is None or self.expires_at > now)

    def principal(self) -> Principal:
        return Principal(subject=f"api-key:{self.key_id}", roles=frozenset({self.role}))


Lookup = Callable[[str], Awaitable[ApiKeyRecord | None]]


class ApiKeyVerifier:
    """TokenVerifier for API keys; `lookup` finds a record by key hash (local table or database)."""

    def __init__(self, lookup: Lookup, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._lookup = lookup
        self._clock = clock

    async def verify(self, token: str) -> Principal | None:
        if not token.startswith(KEY_PREFIX):
            return None
        record = await self._lookup(hash_api_key(token))
        if record is None or not record.active(self._clock()):
            return None
        return record.principal()


class ApiKeyTable:
    """The newest record per key id, findable by key hash."""

    def __init__(self) -> None:
        self._by_hash: dict[str, ApiKeyRecord] = {}
        self._hash_by_id: dict[str, str] = {}

    def apply(self, record: ApiKeyRecord) -> None:
        """The newer record of a key id wins; an older one (a replayed record from before a revocation) is
        ignored."""
        current = self._by_hash.get(self._hash_by_id.get(record.key_id, ""))
        if current is not None and current.signed_at and record.signed_at and record.signed_at < current.signed_at:
            return
        self.remove(record.key_id)
        self._by_hash[record.key_hash] = record
        self._hash_by_id[record.key_id] = record.key_hash

    def remove(self, key_id: str) -> None:
        old = self._hash_by_id.pop(key_id, None)
        if old is not None:
            self._by_hash.pop(old, None)

    def get(self, key_hash: str) -> ApiKeyRecord | None:
        return self._by_hash.get(key_hash)

    def by_id(self, key_id: str) -> ApiKeyRecord | None:
        """The record of a key id (audit logs name the key that asked)."""
        key_hash = self._hash_by_id.get(key_id)
        return self._by_hash.get(key_hash) if key_hash is not None else None

    def __len__(self) -> int:
        return len(self._by_hash)


class ApiKeyFeed:
    """Keeps an :class:`ApiKeyTable` in step with the compacted api-keys topic (a voltline_bus TopicFollower).

    Reads every partition from the beginning without a consumer group (every instance needs every
    key). `start()` returns once the copy has caught up with what was on the topic when it started,
    so a service never serves requests with a half-loaded table.
    """

    def __init__(
        self, config: BusConfig, topic: str, *, signing_key: bytes | None, catch_up_timeout: float = 30.0
    ) -> None:
        """`signing_key` (record_signing_key): records without its signature are ignored; None accepts
        unsigned records (tests of the feed itself only)."""
        self._config = config
        self._topic = topic
        self._signing_key = signing_key
        self.forged = 0  # records refused for a missing or wrong signature
        self._catch_up_timeout = catch_up_timeout
        self.table = ApiKeyTable()
        # Drivers' token keys travel on the same topic (voltline_chassis.driver_tokens, ADR 0013).
        self.driver_keys = DriverKeyTable()
        self._follower = TopicFollower(config, topic, self._apply, from_beginning=True, name="api-keys")
        self._ready = False

    async def lookup(self, key_hash: str) -> ApiKeyRecord | None:
        if not self._ready:
            raise Problem(503, "API keys are still loading; retry in a moment.", headers={"Retry-After": "1"})
        return self.table.get(key_hash)

    async def start(self) -> None:
        if self._ready:
            return
        await ensure_topics(self._config, [TopicSpec(self._topic, compacted=True)])
        await self._follower.start()
        try:
            async with asyncio.timeout(self._catch_up_timeout):
                await self._follower.caught_up.wait()
        except BaseException:
            await self._follower.stop()
            raise
        self._ready = True
        log.info("api key feed caught up", topic=self._topic, keys=len(self.table))

    async def stop(self) -> None:
        self._ready = False
        await self._follower.stop()

    async def check(self) -> None:
        """Readiness: the copy is loaded and still following the topic."""
        if not self._ready or not self._follower.running:
            raise RuntimeError("API key feed is not running")

    def _apply(self, record: FollowedRecord) -> None:
        if record.value is None:  # tombstone: the key id is forgotten
            if record.key is not None:
                self.table.remove(record.key.decode())
            return
        try:
            envelope = Envelope.from_bytes(record.value)
            if envelope.type == DriverSigningKey.TYPE:
                self._apply_driver_key(decode_payload(envelope), record.offset)
                return
            if envelope.type != ApiKeyRegistered.TYPE:
                return
            event = decode_payload(envelope)
        except (ValidationError, ValueError):
            log.warning("unreadable api key record skipped", topic=self._topic, offset=record.offset)
            return
        assert isinstance(event, ApiKeyRegistered)
        if self._signing_key is not None and not record_is_authentic(event, self._signing_key):
            self.forged += 1
            if self.forged <= 10 or self.forged % 1000 == 0:
                log.warning(
                    "api key record without a valid signature ignored",
                    topic=self._topic,
                    offset=record.offset,
                    key_id=event.key_id,
                    refused_so_far=self.forged,
                )
            return
        self.table.apply(ApiKeyRecord.of(event))

    def _apply_driver_key(self, event: object, offset: int) -> None:
        assert isinstance(event, DriverSigningKey)
        if self._signing_key is not None and not key_record_is_authentic(event, self._signing_key):
            self.forged += 1
            log.warning("driver key record without a valid signature ignored", topic=self._topic, offset=offset)
            return
        self.driver_keys.apply(event)

"""Auth's keys for drivers' access tokens: created once, kept in auth's store, published for every service.

The newest key signs; every key auth holds verifies (a key added by another replica is picked up at its next
start, and published by it). The public halves go on the API-keys topic as signed `auth.driver_signing_key`
records (ADR 0013), so other services verify tokens with no call to auth.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from voltline_chassis.driver_tokens import RECORD_KEY_PREFIX, DriverKeyTable, SigningKey, sign_key_record
from voltline_events import envelope_for
from voltline_events.payloads.auth import DriverSigningKey

from voltline_auth.service_layer.accounts import AccountsUnitOfWork
from voltline_auth.service_layer.context import AuthContext


class DriverKeyRing:
    def __init__(self, ctx: AuthContext, uow: Callable[[], AccountsUnitOfWork]) -> None:
        self._ctx = ctx
        self._uow = uow
        self._signing: SigningKey | None = None
        self._table = DriverKeyTable()

    async def start(self) -> None:
        """Load the keys (creating the first one), and publish them all (the embedded broker may have forgotten)."""
        async with self._uow() as uow:
            keys = await uow.signing_keys.all()
            if not keys:
                keys = [SigningKey.generate(self._ctx.clock())]
                await uow.signing_keys.add(keys[0])
            for key in keys:
                self._publish(uow, key)
            await uow.commit()
        for key in keys:
            self._table.add_private(key)
        self._signing = keys[-1]

    def _publish(self, uow: AccountsUnitOfWork, key: SigningKey) -> None:
        now = self._ctx.clock()
        record = DriverSigningKey(kid=key.kid, public_key=key.public_pem(), created_at=key.created_at)
        if self._ctx.api_key_signing is not None:
            record = sign_key_record(record, self._ctx.api_key_signing, now)
        envelope = envelope_for(record, source=self._ctx.source)
        uow.outbox.add(self._ctx.topics.api_keys, envelope, key=f"{RECORD_KEY_PREFIX}{key.kid}".encode())

    def issue(self, driver_id: str, id_token: str | None, now: datetime, ttl: timedelta) -> str:
        if self._signing is None:
            raise RuntimeError("the driver key ring is not started")
        return self._signing.sign(driver_id, id_token, now, ttl)

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        return self._table.get(kid)

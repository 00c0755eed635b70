"""Drivers' access tokens: short-lived EdDSA (Ed25519) JWTs that auth signs and every service verifies locally.

Auth keeps the private key and publishes the public key as a signed `auth.driver_signing_key` record on the
API-keys topic, which every service already follows (:class:`voltline_chassis.api_keys.ApiKeyFeed` hands the
records to a :class:`DriverKeyTable`). A request carrying a driver's token is therefore checked with no call
to auth (ADR 0013). A driver route depends on :func:`current_driver` (the driver id) or
:func:`current_driver_identity` (also the driver's app id token); operator routes refuse drivers with 403,
because the `driver` role implies none of the operator roles.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import Depends
from voltline_events.payloads.auth import DriverSigningKey

from voltline_chassis.problems import Problem
from voltline_chassis.security import Principal, authenticate

ISSUER = "voltline-auth"
AUDIENCE = "voltline"
ALGORITHM = "EdDSA"
DRIVER_ROLE = "driver"
RECORD_KEY_PREFIX = "driver-key:"


@dataclass(frozen=True, slots=True)
class DriverPrincipal(Principal):
    """A driver signed in through the app: who they are, and the app id token they charge with."""

    driver_id: str = ""
    id_token: str | None = None


@dataclass(frozen=True)
class SigningKey:
    """Auth's private key with its id (the `kid` header of every token it signs)."""

    kid: str
    private_pem: str
    created_at: datetime

    @classmethod
    def generate(cls, now: datetime) -> SigningKey:
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return cls(f"dk-{uuid.uuid4().hex[:16]}", pem, now)

    def public_pem(self) -> str:
        private = serialization.load_pem_private_key(self.private_pem.encode(), password=None)
        return (
            private.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def sign(self, driver_id: str, id_token: str | None, now: datetime, ttl: timedelta) -> str:
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": driver_id,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        if id_token is not None:
            claims["idt"] = id_token
        return jwt.encode(claims, self.private_pem, algorithm=ALGORITHM, headers={"kid": self.kid})


# --- the published record -------------------------------------------------------------------------------


def _signed_text(event: DriverSigningKey) -> bytes:
    fields = [
        event.kid,
        event.algorithm,
        event.public_key,
        event.created_at.isoformat(),
        event.retired,
        event.signed_at.isoformat() if event.signed_at else None,
    ]
    return json.dumps(fields, separators=(",", ":")).encode()


def sign_key_record(event: DriverSigningKey, key: bytes, now: datetime) -> DriverSigningKey:
    """Stamp the record with auth's HMAC (key: api_keys.record_signing_key), as API-key records are."""
    stamped = event.model_copy(update={"signed_at": now, "signature": None})
    signature = hmac.new(key, _signed_text(stamped), hashlib.sha256).hexdigest()
    return stamped.model_copy(update={"signature": signature})


def key_record_is_authentic(event: DriverSigningKey, key: bytes) -> bool:
    if event.signature is None or event.signed_at is None:
        return False
    expected = hmac.new(key, _signed_text(event), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, event.signature)


class DriverKeyTable:
    """The public keys drivers' tokens may be signed with, by key id (the newest record per kid wins)."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[datetime | None, Ed25519PublicKey | None]] = {}

    def apply(self, event: DriverSigningKey) -> None:
        current = self._keys.get(event.kid)
        if current is not None and current[0] and event.signed_at and event.signed_at < current[0]:
            return  # a replayed older record (from before a retirement)
        if event.retired:
            self._keys[event.kid] = (event.signed_at, None)
            return
        public = serialization.load_pem_public_key(event.public_key.encode())
        if not isinstance(public, Ed25519PublicKey):
            return
        self._keys[event.kid] = (event.signed_at, public)

    def add_private(self, key: SigningKey) -> None:
        """Auth trusts its own keys without the bus."""
        public = serialization.load_pem_public_key(key.public_pem().encode())
        assert isinstance(public, Ed25519PublicKey)
        self._keys[key.kid] = (None, public)

    def get(self, kid: str) -> Ed25519PublicKey | None:
        found = self._keys.get(kid)
        return found[1] if found else None

    def __len__(self) -> int:
        return sum(1 for _, key in self._keys.values() if key is not None)


class DriverTokenVerifier:
    """TokenVerifier for drivers' access tokens: signature, issuer, audience and expiry, checked locally.

    Answers None (not mine, or invalid) for anything else, so it sits last in a ChainVerifier.
    """

    def __init__(
        self,
        keys: Callable[[str], Ed25519PublicKey | None],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        leeway_s: float = 5.0,
    ) -> None:
        self._keys = keys
        self._clock = clock
        self._leeway = leeway_s

    async def verify(self, token: str) -> DriverPrincipal | None:
        return self.verify_now(token)

    def verify_now(self, token: str) -> DriverPrincipal | None:
        if token.count(".") != 2 or not token.startswith("eyJ"):
            return None
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._keys(kid) if isinstance(kid, str) else None
            if key is None:
                return None
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "sub"], "verify_iat": False, "verify_exp": False},
            )
        except jwt.PyJWTError:
            return None
        # Expiry against our clock (tests move it), with the leeway for clocks that differ a little.
        if claims["exp"] + self._leeway < self._clock().timestamp():
            return None
        driver_id = str(claims["sub"])
        id_token = claims.get("idt")
        return DriverPrincipal(
            subject=f"driver:{driver_id}",
            roles=frozenset({DRIVER_ROLE}),
            driver_id=driver_id,
            id_token=str(id_token) if id_token is not None else None,
        )


async def current_driver_identity(principal: Annotated[Principal, Depends(authenticate)]) -> DriverPrincipal:
    """FastAPI dependency of driver routes: the signed-in driver, 403 for an operator's credentials."""
    if not isinstance(principal, DriverPrincipal):
        raise Problem(
            403,
            "This route is for drivers: sign in with POST /api/v1/driver-token and send its access_token.",
            extra={"required_role": DRIVER_ROLE},
        )
    return principal


async def current_driver(identity: Annotated[DriverPrincipal, Depends(current_driver_identity)]) -> str:
    """FastAPI dependency: the signed-in driver's id."""
    return identity.driver_id


CurrentDriver = Annotated[str, Depends(current_driver)]
CurrentDriverIdentity = Annotated[DriverPrincipal, Depends(current_driver_identity)]

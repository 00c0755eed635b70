"""What the driver-account use cases need besides auth's own store (ADR 0010): a mailer, a password hasher,
the token signer, and the accounts' repositories inside the auth unit of work."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from voltline_chassis.driver_tokens import SigningKey

from voltline_auth.domain.accounts import DriverAccount, OneTimeSecret


class Mailer(Protocol):
    """Sends one e-mail; SMTP in production, the log under `make run`, a list in tests."""

    async def send(self, to: str, subject: str, body: str) -> None: ...


class PasswordHasher(Protocol):
    """Memory-hard and slow on purpose: async, so the hash runs off the event loop."""

    async def hash(self, password: str) -> str: ...
    async def verify(self, password_hash: str, password: str) -> bool: ...


class AccessTokens(Protocol):
    """Signs drivers' short-lived access tokens (voltline_chassis.driver_tokens)."""

    def issue(self, driver_id: str, id_token: str | None, now: datetime, ttl: timedelta) -> str: ...


class AccountRepository(Protocol):
    async def get(self, driver_id: str) -> DriverAccount | None: ...
    async def get_by_email(self, email: str) -> DriverAccount | None: ...
    async def add(self, account: DriverAccount) -> None: ...
    async def save(self, account: DriverAccount) -> None: ...


class SecretRepository(Protocol):
    async def add(self, secret: OneTimeSecret) -> None: ...
    async def get(self, secret_hash: str, purpose: str) -> OneTimeSecret | None: ...
    async def use(self, secret_hash: str, at: datetime) -> None: ...
    async def revoke_all(self, driver_id: str, purpose: str, at: datetime) -> int:
        """Marks every unused secret of that purpose used (logout everywhere, a new password)."""
        ...


class SigningKeyRepository(Protocol):
    async def all(self) -> list[SigningKey]: ...
    async def add(self, key: SigningKey) -> None: ...

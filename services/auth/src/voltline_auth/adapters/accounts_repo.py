"""Driver accounts, their one-time secrets and auth's token signing keys, in the database."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from voltline_chassis.driver_tokens import SigningKey

from voltline_auth.adapters.orm import driver_accounts, driver_secrets, driver_signing_keys
from voltline_auth.domain.accounts import DriverAccount, OneTimeSecret


class AccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, driver_id: str) -> DriverAccount | None:
        query = select(driver_accounts).where(driver_accounts.c.driver_id == driver_id)
        row = (await self._session.execute(query)).first()
        return DriverAccount(**row._mapping) if row else None

    async def get_by_email(self, email: str) -> DriverAccount | None:
        row = (await self._session.execute(select(driver_accounts).where(driver_accounts.c.email == email))).first()
        return DriverAccount(**row._mapping) if row else None

    async def add(self, account: DriverAccount) -> None:
        await self._session.execute(insert(driver_accounts).values(**asdict(account)))

    async def save(self, account: DriverAccount) -> None:
        values = {k: v for k, v in asdict(account).items() if k != "driver_id"}
        where = driver_accounts.c.driver_id == account.driver_id
        await self._session.execute(update(driver_accounts).where(where).values(**values))


class SecretRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, secret: OneTimeSecret) -> None:
        await self._session.execute(insert(driver_secrets).values(**asdict(secret)))

    async def get(self, secret_hash: str, purpose: str) -> OneTimeSecret | None:
        query = select(driver_secrets).where(
            driver_secrets.c.secret_hash == secret_hash, driver_secrets.c.purpose == purpose
        )
        row = (await self._session.execute(query)).first()
        return OneTimeSecret(**row._mapping) if row else None

    async def use(self, secret_hash: str, at: datetime) -> None:
        where = (driver_secrets.c.secret_hash == secret_hash) & driver_secrets.c.used_at.is_(None)
        await self._session.execute(update(driver_secrets).where(where).values(used_at=at))

    async def revoke_all(self, driver_id: str, purpose: str, at: datetime) -> int:
        where = (
            (driver_secrets.c.driver_id == driver_id)
            & (driver_secrets.c.purpose == purpose)
            & driver_secrets.c.used_at.is_(None)
        )
        result = await self._session.execute(update(driver_secrets).where(where).values(used_at=at))
        return int(getattr(result, "rowcount", 0) or 0)


class SigningKeyStore:
    """Auth's private keys for drivers' tokens; the newest signs, every one still verifies."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def all(self) -> list[SigningKey]:
        query = select(driver_signing_keys).order_by(driver_signing_keys.c.created_at)
        return [SigningKey(**row._mapping) for row in await self._session.execute(query)]

    async def add(self, key: SigningKey) -> None:
        await self._session.execute(insert(driver_signing_keys).values(**asdict(key)))

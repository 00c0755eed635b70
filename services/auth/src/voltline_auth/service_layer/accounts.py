"""Driver accounts: sign-up, confirmation, sign-in with access and refresh tokens, sign-out, password reset.

An account is the sign-in of a driver of `POST /api/v1/drivers` (the same driver id, linked by e-mail when an
operator registered the driver first). Once confirmed it gets an app id token (type Central) that the access
token carries, so the session service can start a charge for the driver with no call to auth.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from voltline_auth.domain.accounts import (
    CONFIRM,
    REFRESH,
    RESET,
    DriverAccount,
    LockoutPolicy,
    OneTimeSecret,
    check_password,
)
from voltline_auth.domain.tokens import Driver, IdToken
from voltline_auth.service_layer import ports
from voltline_auth.service_layer.account_ports import (
    AccessTokens,
    AccountRepository,
    Mailer,
    PasswordHasher,
    SecretRepository,
    SigningKeyRepository,
)
from voltline_auth.service_layer.context import AuthContext, audit
from voltline_auth.service_layer.drivers import DriverNotFound

APP_TOKEN_PREFIX = "APP"


class AccountsUnitOfWork(ports.AuthUnitOfWork, Protocol):
    @property
    def accounts(self) -> AccountRepository: ...
    @property
    def secrets(self) -> SecretRepository: ...
    @property
    def signing_keys(self) -> SigningKeyRepository: ...


class AccountExists(Exception):
    """An account with this e-mail address exists."""


class LoginFailed(Exception):
    """Wrong e-mail or password (never says which)."""


class AccountLocked(Exception):
    def __init__(self, until: datetime) -> None:
        super().__init__(until)
        self.until = until


class AccountNotConfirmed(Exception):
    pass


class InvalidCode(Exception):
    """An unknown, used or expired confirmation code, reset code or refresh token."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


@dataclass
class AccountsContext:
    auth: AuthContext
    uow: Callable[[], AccountsUnitOfWork]
    mailer: Mailer
    hasher: PasswordHasher
    tokens: AccessTokens
    access_ttl: timedelta = timedelta(minutes=5)
    refresh_ttl: timedelta = timedelta(days=30)
    code_ttl: timedelta = timedelta(hours=24)
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def _new_secret(uow: AccountsUnitOfWork, driver_id: str, purpose: str, expires_at: datetime) -> str:
    secret = secrets.token_urlsafe(32)
    await uow.secrets.add(OneTimeSecret(_digest(secret), driver_id, purpose, expires_at))
    return secret


async def _create_account(
    actx: AccountsContext, *, email: str, password_hash: str, name: str
) -> tuple[DriverAccount, str]:
    """The account, its driver (unless an operator registered them) and a confirmation code, in one transaction."""
    now = actx.auth.clock()
    async with actx.uow() as uow:
        if await uow.accounts.get_by_email(email) is not None:
            raise AccountExists(email)
        driver = await uow.drivers.get_by_email(email)
        if driver is None:  # else: an operator registered this driver; confirming the e-mail proves it is theirs
            driver = Driver(str(uuid.uuid4()), name, email, None, None, None, now, now)
            await uow.drivers.add(driver)
        account = DriverAccount(driver.driver_id, email, password_hash, False, now, now)
        await uow.accounts.add(account)
        code = await _new_secret(uow, driver.driver_id, CONFIRM, now + actx.code_ttl)
        await audit(actx.auth, uow, f"driver:{driver.driver_id}", "driver_account.created", "driver", driver.driver_id)
        await uow.commit()
    return account, code


async def sign_up(actx: AccountsContext, *, email: str, password: str, name: str) -> DriverAccount:
    check_password(password)
    email = email.lower()
    password_hash = await actx.hasher.hash(password)
    try:
        account, code = await _create_account(actx, email=email, password_hash=password_hash, name=name)
    except ports.Duplicate as exc:  # a sign-up with the same e-mail committed first
        raise AccountExists(email) from exc
    await actx.mailer.send(
        email,
        "Confirm your voltline account",
        f"Hello {name},\n\nconfirm your account with this code (valid {actx.code_ttl}):\n\n{code}\n\n"
        'POST it to /api/v1/driver-accounts/confirmation as {"code": "..."}.\n',
    )
    return account


async def _confirm(actx: AccountsContext, uow: AccountsUnitOfWork, account: DriverAccount, actor: str) -> DriverAccount:
    now = actx.auth.clock()
    if not account.confirmed:
        account = replace(account, confirmed=True, updated_at=now)
        await uow.accounts.save(account)
        await audit(actx.auth, uow, actor, "driver_account.confirmed", "driver", account.driver_id)
    if await _app_token(uow, account.driver_id) is None:
        token = IdToken(
            f"{APP_TOKEN_PREFIX}{secrets.token_hex(8).upper()}", "Central", "Accepted", account.driver_id,
            None, None, now, now,
        )  # fmt: skip
        await uow.tokens.add(token)
        await audit(
            actx.auth, uow, actor, "id_token.issued", "id_token", token.id_token,
            type="Central", driver_id=account.driver_id,
        )  # fmt: skip
    return account


async def _app_token(uow: AccountsUnitOfWork, driver_id: str) -> IdToken | None:
    for token in await uow.tokens.of_driver(driver_id):
        if token.type == "Central" and token.id_token.startswith(APP_TOKEN_PREFIX) and token.status == "Accepted":
            return token
    return None


async def confirm_by_operator(actx: AccountsContext, driver_id: str, *, actor: str) -> DriverAccount:
    async with actx.uow() as uow:
        account = await uow.accounts.get(driver_id)
        if account is None:
            raise DriverNotFound(driver_id)
        account = await _confirm(actx, uow, account, actor)
        await uow.commit()
    actx.auth.tokens.invalidate()
    return account


async def confirm_with_code(actx: AccountsContext, code: str) -> DriverAccount:
    now = actx.auth.clock()
    async with actx.uow() as uow:
        secret = await uow.secrets.get(_digest(code), CONFIRM)
        if secret is None or not secret.usable(now):
            raise InvalidCode("confirmation code")
        account = await uow.accounts.get(secret.driver_id)
        if account is None:
            raise InvalidCode("confirmation code")
        await uow.secrets.use(secret.secret_hash, now)
        account = await _confirm(actx, uow, account, f"driver:{account.driver_id}")
        await uow.commit()
    actx.auth.tokens.invalidate()
    return account


async def _issue(actx: AccountsContext, uow: AccountsUnitOfWork, account: DriverAccount, now: datetime) -> TokenPair:
    app = await _app_token(uow, account.driver_id)
    refresh = await _new_secret(uow, account.driver_id, REFRESH, now + actx.refresh_ttl)
    access = actx.tokens.issue(account.driver_id, app.id_token if app else None, now, actx.access_ttl)
    return TokenPair(access, refresh, int(actx.access_ttl.total_seconds()))


async def log_in(actx: AccountsContext, *, email: str, password: str) -> TokenPair:
    now = actx.auth.clock()
    async with actx.uow() as uow:
        account = await uow.accounts.get_by_email(email.lower())
        if account is None:
            await actx.hasher.verify(await _DUMMY.get(actx.hasher), password)  # as slow as a known address
            raise LoginFailed()
        if account.locked(now):
            raise AccountLocked(account.locked_until or now)
        if not await actx.hasher.verify(account.password_hash, password):
            account = account.failed(now, actx.lockout)
            await uow.accounts.save(account)
            await audit(actx.auth, uow, f"driver:{account.driver_id}", "driver_account.login_failed", "driver",
                        account.driver_id, locked_until=account.locked_until)  # fmt: skip
            await uow.commit()
            if account.locked(now):
                raise AccountLocked(account.locked_until or now)
            raise LoginFailed()
        if not account.confirmed:
            raise AccountNotConfirmed(account.driver_id)
        succeeded = account.succeeded(now)
        if succeeded is not account:
            await uow.accounts.save(succeeded)
        pair = await _issue(actx, uow, succeeded, now)
        await uow.commit()
    return pair


async def refresh(actx: AccountsContext, refresh_token: str) -> TokenPair:
    """A new pair for a valid refresh token, which is used up (rotation); reusing one signs the driver out."""
    now = actx.auth.clock()
    async with actx.uow() as uow:
        secret = await uow.secrets.get(_digest(refresh_token), REFRESH)
        if secret is None:
            raise InvalidCode("refresh token")
        if secret.used_at is not None:  # replayed: someone else may hold the newer one
            await uow.secrets.revoke_all(secret.driver_id, REFRESH, now)
            await uow.commit()
            raise InvalidCode("refresh token")
        account = await uow.accounts.get(secret.driver_id)
        if not secret.usable(now) or account is None or account.locked(now):
            raise InvalidCode("refresh token")
        await uow.secrets.use(secret.secret_hash, now)
        pair = await _issue(actx, uow, account, now)
        await uow.commit()
    return pair


async def log_out(actx: AccountsContext, refresh_token: str, *, everywhere: bool = False) -> None:
    """The refresh token stops working (all of the driver's with `everywhere`); access tokens run out by themselves."""
    now = actx.auth.clock()
    async with actx.uow() as uow:
        secret = await uow.secrets.get(_digest(refresh_token), REFRESH)
        if secret is None:
            return  # signing out twice is not an error
        if everywhere:
            await uow.secrets.revoke_all(secret.driver_id, REFRESH, now)
        elif secret.used_at is None:
            await uow.secrets.use(secret.secret_hash, now)
        await uow.commit()


async def request_reset(actx: AccountsContext, email: str) -> None:
    """Mails a reset code when the address has an account; answers the same either way (no address probing)."""
    now = actx.auth.clock()
    async with actx.uow() as uow:
        account = await uow.accounts.get_by_email(email.lower())
        if account is None:
            return
        code = await _new_secret(uow, account.driver_id, RESET, now + actx.code_ttl)
        await uow.commit()
    await actx.mailer.send(
        account.email,
        "Reset your voltline password",
        f"Someone asked to reset the password of this account. If it was you, use this code (valid "
        f"{actx.code_ttl}):\n\n{code}\n\nPOST it with the new password to /api/v1/driver-accounts/password "
        'as {"code": "...", "password": "..."}. Otherwise ignore this message.\n',
    )


async def reset_password(actx: AccountsContext, code: str, password: str) -> None:
    check_password(password)
    now = actx.auth.clock()
    password_hash = await actx.hasher.hash(password)
    async with actx.uow() as uow:
        secret = await uow.secrets.get(_digest(code), RESET)
        if secret is None or not secret.usable(now):
            raise InvalidCode("reset code")
        account = await uow.accounts.get(secret.driver_id)
        if account is None:
            raise InvalidCode("reset code")
        await uow.secrets.use(secret.secret_hash, now)
        # The mail reached the driver: the address is confirmed, the lock lifted, every session signed out.
        account = replace(account, password_hash=password_hash, failed_logins=0, locked_until=None, updated_at=now)
        await uow.accounts.save(account)
        await _confirm(actx, uow, account, f"driver:{account.driver_id}")
        await uow.secrets.revoke_all(account.driver_id, REFRESH, now)
        await audit(actx.auth, uow, f"driver:{account.driver_id}", "driver_account.password_reset", "driver",
                    account.driver_id)  # fmt: skip
        await uow.commit()
    actx.auth.tokens.invalidate()


class _DummyHash:
    """A hash of a random password per hasher, verified for unknown addresses so they take as long."""

    def __init__(self) -> None:
        self._hashes: dict[int, str] = {}

    async def get(self, hasher: PasswordHasher) -> str:
        key = id(hasher)
        if key not in self._hashes:
            self._hashes[key] = await hasher.hash(secrets.token_hex(16))
        return self._hashes[key]


_DUMMY = _DummyHash()

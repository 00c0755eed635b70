"""Driver accounts: the rules of signing in, with no I/O (lock-out, password quality, one-time codes)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

MIN_PASSWORD = 10
MAX_PASSWORD = 128
CONFIRM = "confirm"
RESET = "reset"
REFRESH = "refresh"


class InvalidAccount(Exception):
    """Bad input for an account; names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class LockoutPolicy:
    """After `max_failures` wrong passwords in a row the account refuses every login for `lock_for`.

    The counter restarts after a successful login or once the lock has run out, so a forgotten password costs
    a driver a wait, not the account; an attacker gets `max_failures` guesses per `lock_for`.
    """

    max_failures: int = 5
    lock_for: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class DriverAccount:
    driver_id: str
    email: str
    password_hash: str
    confirmed: bool
    created_at: datetime
    updated_at: datetime
    failed_logins: int = 0
    locked_until: datetime | None = None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now

    def failed(self, now: datetime, policy: LockoutPolicy) -> DriverAccount:
        """One more wrong password: locks the account when it reaches the policy's limit."""
        failures = 1 if self.locked_until is not None and self.locked_until <= now else self.failed_logins + 1
        if failures >= policy.max_failures:
            return replace(self, failed_logins=0, locked_until=now + policy.lock_for, updated_at=now)
        return replace(self, failed_logins=failures, locked_until=None, updated_at=now)

    def succeeded(self, now: datetime) -> DriverAccount:
        if self.failed_logins == 0 and self.locked_until is None:
            return self
        return replace(self, failed_logins=0, locked_until=None, updated_at=now)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidAccount("password", f"The password must have at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise InvalidAccount("password", f"The password must have at most {MAX_PASSWORD} characters.")
    if password.strip() == "" or len(set(password)) < 4:
        raise InvalidAccount("password", "The password is too simple: use at least 4 different characters.")


@dataclass(frozen=True)
class OneTimeSecret:
    """A confirmation code, a password-reset code or a refresh token, kept only as its hash."""

    secret_hash: str
    driver_id: str
    purpose: str
    expires_at: datetime
    used_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        return self.used_at is None and self.expires_at > now

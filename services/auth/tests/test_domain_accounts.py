"""The sign-in rules alone: lock-out after repeated failures, password quality, one-time secrets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from voltline_auth.domain.accounts import DriverAccount, InvalidAccount, LockoutPolicy, OneTimeSecret, check_password

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
POLICY = LockoutPolicy(max_failures=3, lock_for=timedelta(minutes=15))
ACCOUNT = DriverAccount("d1", "a@example.com", "hash", True, T0, T0)


def test_the_third_failure_in_a_row_locks_for_the_policy_time() -> None:
    account = ACCOUNT.failed(T0, POLICY).failed(T0, POLICY)
    assert account.failed_logins == 2 and not account.locked(T0)
    locked = account.failed(T0, POLICY)
    assert locked.locked(T0 + timedelta(minutes=14)) and not locked.locked(T0 + timedelta(minutes=15))


def test_a_success_or_an_expired_lock_restarts_the_count() -> None:
    assert ACCOUNT.failed(T0, POLICY).failed(T0, POLICY).succeeded(T0).failed_logins == 0
    locked = ACCOUNT.failed(T0, POLICY).failed(T0, POLICY).failed(T0, POLICY)
    after = locked.failed(T0 + timedelta(minutes=16), POLICY)
    assert after.failed_logins == 1 and not after.locked(T0 + timedelta(minutes=16))
    assert ACCOUNT.succeeded(T0) is ACCOUNT  # nothing to write


@pytest.mark.parametrize("password", ["short", "a" * 129, "aaaaaaaaaaaa", "          "])
def test_weak_passwords_are_refused_naming_the_field(password: str) -> None:
    with pytest.raises(InvalidAccount) as refused:
        check_password(password)
    assert refused.value.field == "password"


def test_a_secret_is_usable_once_and_until_it_expires() -> None:
    secret = OneTimeSecret("h", "d1", "reset", T0 + timedelta(hours=1))
    assert secret.usable(T0) and not secret.usable(T0 + timedelta(hours=1))
    assert not OneTimeSecret("h", "d1", "reset", T0 + timedelta(hours=1), used_at=T0).usable(T0)

"""The driver-account use cases on in-memory fakes with a fake clock: the time-dependent rules, in milliseconds."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from auth_fakes import Fakes, fake_auth
from voltline_auth.domain.accounts import LockoutPolicy
from voltline_auth.service_layer import accounts as acc
from voltline_auth.service_layer.driver_keys import DriverKeyRing
from voltline_chassis.api_keys import record_signing_key
from voltline_chassis.driver_tokens import DriverTokenVerifier, key_record_is_authentic
from voltline_events import decode_payload
from voltline_events.payloads.auth import DriverSigningKey

PASSWORD = "correct horse battery"


class PlainHasher:
    """Not memory-hard: the rules, not argon2, are under test here."""

    async def hash(self, password: str) -> str:
        return f"plain${password}"

    async def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == f"plain${password}"


@dataclass
class Mail:
    sent: list[tuple[str, str]] = field(default_factory=list)

    async def send(self, to: str, subject: str, body: str) -> None:
        found = re.search(r"\n\n([A-Za-z0-9_\-]{30,})\n\n", body)
        assert found, body
        self.sent.append((to, found.group(1)))


@dataclass
class World:
    fakes: Fakes
    actx: acc.AccountsContext
    mail: Mail
    keys: DriverKeyRing


@pytest.fixture
async def world() -> World:
    fakes = fake_auth(api_key_signing=record_signing_key("admin"))
    keys = DriverKeyRing(fakes.ctx, fakes.uow)
    await keys.start()
    mail = Mail()
    actx = acc.AccountsContext(
        auth=fakes.ctx, uow=fakes.uow, mailer=mail, hasher=PlainHasher(), tokens=keys,
        lockout=LockoutPolicy(3, timedelta(minutes=10)),
    )  # fmt: skip
    return World(fakes, actx, mail, keys)


async def signed_up(w: World, email: str = "ada@example.com") -> str:
    account = await acc.sign_up(w.actx, email=email, password=PASSWORD, name="Ada")
    await acc.confirm_with_code(w.actx, w.mail.sent[-1][1])
    return account.driver_id


async def test_the_key_is_created_once_and_published_signed(world: World) -> None:
    [envelope] = world.fakes.published(world.fakes.ctx.topics.api_keys)
    record = decode_payload(envelope)
    assert isinstance(record, DriverSigningKey) and key_record_is_authentic(record, record_signing_key("admin"))
    again = DriverKeyRing(world.fakes.ctx, world.fakes.uow)
    await again.start()  # a second replica, or a restart: same key, published again
    async with world.fakes.uow() as uow:
        assert len(await uow.signing_keys.all()) == 1


async def test_a_lock_runs_out_and_the_right_password_works_again(world: World) -> None:
    driver_id = await signed_up(world)
    for _ in range(2):
        with pytest.raises(acc.LoginFailed):
            await acc.log_in(world.actx, email="ada@example.com", password="wrong one!!")
    with pytest.raises(acc.AccountLocked):
        await acc.log_in(world.actx, email="ada@example.com", password="wrong one!!")
    with pytest.raises(acc.AccountLocked):
        await acc.log_in(world.actx, email="ada@example.com", password=PASSWORD)
    world.fakes.clock.advance(timedelta(minutes=10))
    pair = await acc.log_in(world.actx, email="ada@example.com", password=PASSWORD)
    verifier = DriverTokenVerifier(world.keys.public_key, clock=world.fakes.clock)
    principal = verifier.verify_now(pair.access_token)
    assert principal is not None and principal.driver_id == driver_id and principal.id_token is not None
    world.fakes.clock.advance(timedelta(minutes=6))  # past the 5-minute access token
    assert verifier.verify_now(pair.access_token) is None


async def test_codes_and_refresh_tokens_expire(world: World) -> None:
    await acc.sign_up(world.actx, email="bo@example.com", password=PASSWORD, name="Bo")
    world.fakes.clock.advance(timedelta(hours=25))
    with pytest.raises(acc.InvalidCode):
        await acc.confirm_with_code(world.actx, world.mail.sent[-1][1])
    await signed_up(world, "cy@example.com")
    pair = await acc.log_in(world.actx, email="cy@example.com", password=PASSWORD)
    world.fakes.clock.advance(timedelta(days=31))
    with pytest.raises(acc.InvalidCode):
        await acc.refresh(world.actx, pair.refresh_token)


async def test_a_reset_signs_out_everywhere(world: World) -> None:
    await signed_up(world)
    first = await acc.log_in(world.actx, email="ada@example.com", password=PASSWORD)
    await acc.request_reset(world.actx, "ada@example.com")
    await acc.reset_password(world.actx, world.mail.sent[-1][1], "another long password")
    with pytest.raises(acc.InvalidCode):
        await acc.refresh(world.actx, first.refresh_token)
    with pytest.raises(acc.LoginFailed):
        await acc.log_in(world.actx, email="ada@example.com", password=PASSWORD)

"""Drivers' accounts over the real auth service (PostgreSQL, Kafka): sign-up to sign-out, lock-out, reset."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from auth_testing import ADMIN, Running, eventually, read_topic, running_auth
from voltline_chassis.api_keys import record_signing_key
from voltline_chassis.driver_tokens import DriverKeyTable, DriverTokenVerifier, key_record_is_authentic
from voltline_events import Envelope, decode_payload
from voltline_events.payloads.auth import DriverSigningKey

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Mailbox:
    sent: list[tuple[str, str, str]] = field(default_factory=list)

    async def send(self, to: str, subject: str, body: str) -> None:
        self.sent.append((to, subject, body))

    def code(self, to: str) -> str:
        body = [b for t, _, b in self.sent if t == to][-1]
        found = re.search(r"\n\n([A-Za-z0-9_\-]{30,})\n\n", body)
        assert found, body
        return found.group(1)


MAIL = Mailbox()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def auth(kafka: Any, postgres: Any) -> AsyncIterator[Running]:
    async with running_auth(kafka, postgres, mailer=MAIL, driver_max_failed_logins=3) as running:
        yield running


async def sign_up(auth: Running, email: str, password: str = "correct horse battery") -> dict[str, Any]:
    response = await auth.anon.post("/api/v1/driver-accounts", json={"email": email, "password": password, "name": "A"})
    assert response.status_code == 201, response.text
    return response.json()


async def log_in(auth: Running, email: str, password: str = "correct horse battery", status: int = 200) -> Any:
    response = await auth.anon.post("/api/v1/driver-token", json={"email": email, "password": password})
    assert response.status_code == status, response.text
    return response.json()


async def test_sign_up_confirm_log_in_refresh_log_out(auth: Running) -> None:
    account = await sign_up(auth, "Ada@Example.com")
    assert account["email"] == "ada@example.com" and account["confirmed"] is False
    again = await auth.anon.post(
        "/api/v1/driver-accounts", json={"email": "ada@example.com", "password": "another long one", "name": "B"}
    )
    assert again.status_code == 409
    assert (await log_in(auth, "ada@example.com", status=403))["title"] == "Account not confirmed"

    confirmed = await auth.anon.post(
        "/api/v1/driver-accounts/confirmation", json={"code": MAIL.code("ada@example.com")}
    )
    assert confirmed.json()["confirmed"] is True
    # The account is a driver of the operator API, with an app token.
    tokens = (await auth.api.get("/api/v1/id-tokens", params={"driver_id": account["driver_id"]})).json()["items"]
    assert [(t["type"], t["id_token"][:3]) for t in tokens] == [("Central", "APP")]

    pair = await log_in(auth, "ada@example.com")
    assert pair["expires_in"] == 300
    me = {"Authorization": f"Bearer {pair['access_token']}"}
    # A driver's token is no operator credential.
    assert (await auth.anon.get("/api/v1/drivers", headers=me)).status_code == 403

    refreshed = await auth.anon.post("/api/v1/driver-token/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 200 and refreshed.json()["refresh_token"] != pair["refresh_token"]
    # A used refresh token is refused, and its reuse signs the driver out everywhere.
    replay = await auth.anon.post("/api/v1/driver-token/refresh", json={"refresh_token": pair["refresh_token"]})
    assert replay.status_code == 400
    newest = refreshed.json()["refresh_token"]
    assert (await auth.anon.post("/api/v1/driver-token/refresh", json={"refresh_token": newest})).status_code == 400

    pair = await log_in(auth, "ada@example.com")
    revoked = await auth.anon.post("/api/v1/driver-token/revoke", json={"refresh_token": pair["refresh_token"]})
    assert revoked.status_code == 204
    gone = await auth.anon.post("/api/v1/driver-token/refresh", json={"refresh_token": pair["refresh_token"]})
    assert gone.status_code == 400


async def test_simultaneous_sign_ups_with_one_email_give_one_account_and_409s(auth: Running) -> None:
    body = {"email": "twins@example.com", "password": "correct horse battery", "name": "T"}
    answers = await asyncio.gather(*(auth.anon.post("/api/v1/driver-accounts", json=body) for _ in range(6)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 409, 409, 409, 409, 409], [a.text for a in answers]
    assert all(a.headers["content-type"] == "application/problem+json" for a in answers if a.status_code == 409)


async def test_operator_confirms_and_links_an_existing_driver(auth: Running) -> None:
    driver = (await auth.api.post("/api/v1/drivers", json={"name": "Lin", "email": "lin@example.com"})).json()
    account = await sign_up(auth, "lin@example.com")
    assert account["driver_id"] == driver["driver_id"]
    assert (await auth.anon.post(f"/api/v1/driver-accounts/{account['driver_id']}/confirm")).status_code == 401
    confirmed = await auth.api.post(f"/api/v1/driver-accounts/{account['driver_id']}/confirm")
    assert confirmed.status_code == 200 and confirmed.json()["confirmed"] is True
    await log_in(auth, "lin@example.com")


async def test_lock_out_and_password_reset(auth: Running) -> None:
    account = await sign_up(auth, "bob@example.com")
    await auth.api.post(f"/api/v1/driver-accounts/{account['driver_id']}/confirm")
    assert (await log_in(auth, "bob@example.com", "wrong password!", status=401))["title"] == "Sign-in failed"
    await log_in(auth, "bob@example.com", "wrong password!", status=401)
    locked = await auth.anon.post("/api/v1/driver-token", json={"email": "bob@example.com", "password": "wrong!!!!!!"})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    # Locked: even the right password is refused.
    await log_in(auth, "bob@example.com", status=429)
    # Unknown addresses get the same answer as known ones.
    assert (
        await auth.anon.post("/api/v1/driver-accounts/password-reset", json={"email": "no@example.com"})
    ).status_code == 202
    assert (
        await auth.anon.post("/api/v1/driver-accounts/password-reset", json={"email": "bob@example.com"})
    ).status_code == 202
    code = MAIL.code("bob@example.com")
    weak = await auth.anon.post("/api/v1/driver-accounts/password", json={"code": code, "password": "short"})
    assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "body.password"
    reset = await auth.anon.post(
        "/api/v1/driver-accounts/password", json={"code": code, "password": "a new long password"}
    )
    assert reset.status_code == 204
    await log_in(auth, "bob@example.com", "a new long password")
    used = await auth.anon.post("/api/v1/driver-accounts/password", json={"code": code, "password": "yet another one!"})
    assert used.status_code == 400


async def test_keys_are_published_signed_and_verify_tokens_elsewhere(auth: Running) -> None:
    account = await sign_up(auth, "eve@example.com")
    await auth.api.post(f"/api/v1/driver-accounts/{account['driver_id']}/confirm")
    pair = await log_in(auth, "eve@example.com")

    async def published() -> list[DriverSigningKey]:
        records = await read_topic(auth.settings.kafka_bootstrap, auth.topics.api_keys)
        events = [decode_payload(Envelope.model_validate(e)) for _, e in records if e["type"] == DriverSigningKey.TYPE]
        return [e for e in events if isinstance(e, DriverSigningKey)]

    keys = await eventually(published, within=10, what="the driver signing key on the api-keys topic")
    signing = record_signing_key(ADMIN["Authorization"].removeprefix("Bearer "))
    assert all(key_record_is_authentic(k, signing) for k in keys)
    table = DriverKeyTable()
    for key in keys:
        table.apply(key)
    principal = DriverTokenVerifier(table.get).verify_now(pair["access_token"])
    assert principal is not None and principal.driver_id == account["driver_id"]
    assert principal.id_token is not None and principal.id_token.startswith("APP")
    # Expired (past the leeway) by the verifier's clock: refused.
    late = DriverTokenVerifier(table.get, clock=lambda: datetime(2100, 1, 1, tzinfo=UTC))
    assert late.verify_now(pair["access_token"]) is None
    # A tampered token is refused.
    head, body, sig = pair["access_token"].split(".")
    assert DriverTokenVerifier(table.get).verify_now(f"{head}.{body}.{sig[::-1]}") is None

"""Operator access to the auth API: API keys and roles, 401/403/422, the audit log, and no secret leaking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from auth_testing import TOKEN, Running, eventually
from voltline_devinfra.api_probes import list_routes_refuse_huge_offsets

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def new_key(auth: Running, role: str, **extra: Any) -> tuple[str, dict[str, str]]:
    created = await auth.api.post("/api/v1/api-keys", json={"name": f"{role} key", "role": role, **extra})
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    body = created.json()
    return body["key_id"], {"Authorization": f"Bearer {body['key']}"}


ROUTES = [
    ("GET", "/api/v1/stations"),
    ("GET", "/api/v1/drivers"),
    ("POST", "/api/v1/id-tokens"),
    ("GET", "/api/v1/local-lists"),
    ("GET", "/api/v1/api-keys"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/authorizations"),
    ("GET", "/api/v1/nothing-here"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_missing_or_wrong_bearer_tokens_get_401(auth: Running, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer vlk_not-a-key"}, {"Authorization": f"Basic {TOKEN}"}):
        response = await auth.anon.request(method, path, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_roles(auth: Running) -> None:
    _, viewer = await new_key(auth, "viewer")
    _, operator = await new_key(auth, "operator")
    _, admin = await new_key(auth, "admin")

    assert (await auth.anon.get("/api/v1/stations", headers=viewer)).status_code == 200
    assert (await auth.anon.get("/api/v1/authorizations", headers=viewer)).status_code == 200
    for method, path, body in [
        ("POST", "/api/v1/stations", {"station_id": "CP-VIEW"}),
        ("POST", "/api/v1/drivers", {"name": "V", "email": "v@example.com"}),
        ("PATCH", "/api/v1/id-tokens/X", {"status": "Blocked"}),
        ("POST", "/api/v1/local-lists", {"list_id": "L-VIEW"}),
        ("POST", "/api/v1/stations/CP-VIEW/sync", None),
    ]:
        refused = await auth.anon.request(method, path, json=body, headers=viewer)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["required_role"] == "operator"

    created = await auth.anon.post("/api/v1/drivers", json={"name": "O", "email": "o@example.com"}, headers=operator)
    assert created.status_code == 201
    for method, path in [("GET", "/api/v1/api-keys"), ("POST", "/api/v1/api-keys"), ("GET", "/api/v1/audit")]:
        refused = await auth.anon.request(method, path, json={"name": "x", "role": "admin"}, headers=operator)
        assert refused.status_code == 403 and refused.json()["required_role"] == "admin"
    assert (await auth.anon.get("/api/v1/audit", headers=admin)).status_code == 200
    assert (await auth.anon.post("/api/v1/local-lists", json={"list_id": "L-ADM"}, headers=admin)).status_code == 201


async def test_revoked_and_expired_keys_stop_working(auth: Running) -> None:
    key_id, operator = await new_key(auth, "operator")
    assert (await auth.anon.get("/api/v1/drivers", headers=operator)).status_code == 200
    revoked = await auth.api.delete(f"/api/v1/api-keys/{key_id}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert (await auth.anon.get("/api/v1/drivers", headers=operator)).status_code == 401

    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()  # one already expired is refused (422)
    _, expiring = await new_key(auth, "viewer", expires_at=soon)

    async def expired() -> bool:
        return (await auth.anon.get("/api/v1/drivers", headers=expiring)).status_code == 401

    await eventually(expired, within=15)


async def test_keys_are_listed_without_secrets(auth: Running) -> None:
    key_id, headers = await new_key(auth, "viewer")
    secret = headers["Authorization"].removeprefix("Bearer ")
    listed = await auth.api.get("/api/v1/api-keys", params={"role": "viewer"})
    assert key_id in [k["key_id"] for k in listed.json()["items"]]
    one = await auth.api.get(f"/api/v1/api-keys/{key_id}")
    for response in (listed, one):
        assert secret not in response.text and "key_hash" not in response.text and '"key"' not in response.text


INVALID = [
    ("/api/v1/drivers", {"name": "A", "email": "not-an-email"}, "body.email"),
    (
        "/api/v1/drivers",
        {"name": "A", "email": "a@b.example", "max_concurrent_sessions": 0},
        "body.max_concurrent_sessions",
    ),
    ("/api/v1/drivers", {"email": "a@b.example"}, "body.name"),
    ("/api/v1/id-tokens", {"id_token": "X1", "type": "Magic"}, "body.type"),
    ("/api/v1/id-tokens", {"id_token": "X" * 37, "type": "ISO14443"}, "body.id_token"),
    ("/api/v1/id-tokens", {"id_token": "", "type": "ISO14443"}, "body.id_token"),
    ("/api/v1/id-tokens", {"id_token": "X1", "type": "ISO14443", "status": "Fine"}, "body.status"),
    (
        "/api/v1/id-tokens",
        {"id_token": "X1", "type": "ISO14443", "expires_at": "2030-01-01T00:00:00"},
        "body.expires_at",
    ),
    ("/api/v1/id-tokens", {"id_token": "X1", "type": "ISO14443", "driver_id": "nobody"}, "body.driver_id"),
    ("/api/v1/api-keys", {"name": "k", "role": "root"}, "body.role"),
    ("/api/v1/local-lists", {"list_id": "no spaces"}, "body.list_id"),
    ("/api/v1/stations", {"station_id": "CP-FP", "certificate_fingerprint": "abc"}, "body.certificate_fingerprint"),
    ("/api/v1/stations", {"station_id": "CP-LL", "local_list": "L-NONE"}, "body.local_list"),
]


@pytest.mark.parametrize(("path", "body", "field"), INVALID)
async def test_invalid_payloads_get_422_naming_the_field(auth: Running, path: str, body: Any, field: str) -> None:
    response = await auth.api.post(path, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [error["field"] for error in response.json()["errors"]]


async def test_audit_log_says_who_did_what_when(auth: Running) -> None:
    key_id, operator = await new_key(auth, "operator")
    before = datetime.now(UTC) - timedelta(seconds=1)
    driver = await auth.anon.post("/api/v1/drivers", json={"name": "Aud", "email": "aud@example.com"}, headers=operator)
    driver_id = driver.json()["driver_id"]
    await auth.anon.patch(f"/api/v1/drivers/{driver_id}", json={"phone": "+31 20 123 4567"}, headers=operator)
    page = await auth.api.get("/api/v1/audit", params={"actor": f"api-key:{key_id}"})
    entries = page.json()["items"]
    assert [(e["action"], e["target_id"]) for e in entries] == [
        ("driver.updated", driver_id),
        ("driver.created", driver_id),
    ]
    assert all(datetime.fromisoformat(e["at"]) >= before for e in entries)
    assert entries[0]["details"] == {"fields": ["phone"]}  # personal data stays out of the audit trail
    created_key = await auth.api.get("/api/v1/audit", params={"action": "api_key.created", "target_id": key_id})
    [entry] = created_key.json()["items"]
    assert entry["actor"] == "bootstrap-admin" and entry["details"] == {"name": "operator key", "role": "operator"}


async def test_pagination(auth: Running) -> None:
    for n in range(5):
        await auth.api.post("/api/v1/local-lists", json={"list_id": f"L-PAGE-{n}"})
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = (await auth.api.get("/api/v1/local-lists", params={"limit": 2, "offset": offset})).json()
        seen += [x["list_id"] for x in page["items"]]
        offset = page["next_offset"]
    assert [s for s in seen if s.startswith("L-PAGE-")] == [f"L-PAGE-{n}" for n in range(5)]
    assert (await auth.api.get("/api/v1/local-lists", params={"limit": 0})).status_code == 422


async def test_no_secret_in_any_log_line_or_response(auth: Running, capsys: pytest.CaptureFixture[str]) -> None:
    password = "station-secret-password-77"
    created = await auth.api.post("/api/v1/stations", json={"station_id": "CP-SECRET", "password": password})
    await auth.online("CP-SECRET", "ocpp2.0.1")
    rotated_to = "station-rotated-password-88"
    rotated = await auth.api.post("/api/v1/stations/CP-SECRET/password-rotation", json={"password": rotated_to})
    assert rotated.status_code == 200, rotated.text
    short = await auth.api.patch("/api/v1/stations/CP-SECRET", json={"password": "short-secret"})
    assert short.status_code == 422
    _, headers = await new_key(auth, "admin")
    key = headers["Authorization"].removeprefix("Bearer ")
    responses = [
        created,
        rotated,
        short,
        await auth.anon.get("/api/v1/stations/CP-SECRET", headers=headers),
        await auth.anon.get("/api/v1/stations", headers=headers),
        await auth.anon.get("/api/v1/audit", headers=headers),
        await auth.anon.get("/api/v1/api-keys", headers=headers),
        await auth.anon.get("/api/v1/nope", headers={"Authorization": f"Bearer {key}x"}),
    ]
    logs = capsys.readouterr().out
    assert "CP-SECRET" in logs  # the logs were captured
    for secret in (password, rotated_to, "short-secret", key, TOKEN):
        assert secret not in logs
        assert all(secret not in r.text for r in responses)
    assert all("$2b$" not in r.text for r in responses)  # nor password hashes


async def test_every_list_refuses_huge_offsets(auth: Running) -> None:
    """A 2**63 offset was a 500 (BIGINT overflow in the database); it is a 422 on every list."""
    answers = await list_routes_refuse_huge_offsets(auth.api, {})
    assert len(answers) >= 4 and all(status == 422 for status in answers.values()), answers


async def test_api_keys_that_are_already_expired_are_refused(auth: Running) -> None:
    body = {"name": "late", "role": "viewer", "expires_at": "2020-01-01T00:00:00Z"}
    answer = await auth.api.post("/api/v1/api-keys", json=body)
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "body.expires_at"

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr
from voltline_chassis import PROBLEM_MEDIA_TYPE, ChainVerifier, Principal, StaticTokenVerifier


async def test_missing_token_is_401_with_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/stations")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.headers["www-authenticate"] == 'Bearer realm="voltline"'
    assert "Authorization: Bearer" in response.json()["detail"]


@pytest.mark.parametrize("header", ["Bearer wrong-token", "Basic YWRtaW46YWRtaW4=", "Bearer", "admin-secret-token"])
async def test_wrong_or_malformed_token_is_401(client: httpx.AsyncClient, header: str) -> None:
    response = await client.get("/api/v1/stations", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["status"] == 401


async def test_wrong_token_challenge_says_invalid_token(client: httpx.AsyncClient, helpers) -> None:
    response = await client.get("/api/v1/stations", headers=helpers.bearer("nope"))
    assert response.headers["www-authenticate"] == 'Bearer realm="voltline", error="invalid_token"'


async def test_anonymous_caller_learns_nothing_about_routes_or_bodies(client: httpx.AsyncClient) -> None:
    unknown = await client.get("/api/v1/no-such-thing")
    malformed = await client.post(
        "/api/v1/sessions", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert unknown.status_code == 401
    assert malformed.status_code == 401


async def test_viewer_on_operator_route_is_403(client: httpx.AsyncClient, helpers) -> None:
    response = await client.post(
        "/api/v1/sessions", json={"station_id": "CP-1", "connector_id": 1}, headers=helpers.bearer(helpers.VIEWER)
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["required_role"] == "operator"
    assert "'operator' role" in body["detail"] and "viewer" in body["detail"]


async def test_operator_on_admin_route_is_403(client: httpx.AsyncClient, helpers) -> None:
    response = await client.delete("/api/v1/stations/CP-1", headers=helpers.bearer(helpers.OPERATOR))
    assert response.status_code == 403


async def test_admin_passes_every_role(client: httpx.AsyncClient, helpers) -> None:
    auth = helpers.bearer(helpers.ADMIN)
    started = await client.post("/api/v1/sessions", json={"station_id": "CP-1", "connector_id": 2}, headers=auth)
    assert started.status_code == 201
    assert started.json() == {"station_id": "CP-1", "by": "bootstrap-admin"}
    assert (await client.get("/api/v1/stations", headers=auth)).json()["subject"] == "bootstrap-admin"
    assert (await client.delete("/api/v1/stations/CP-1", headers=auth)).status_code == 204


async def test_operator_implies_viewer(client: httpx.AsyncClient, helpers) -> None:
    response = await client.get("/api/v1/stations", headers=helpers.bearer(helpers.OPERATOR))
    assert response.status_code == 200
    assert response.json() == {"subject": "op-key-1", "roles": ["operator"]}


async def test_verifier_called_once_per_request(app_factory, helpers) -> None:
    keys = helpers.DictVerifier({"k": Principal("svc", frozenset({"admin"}))})
    app = app_factory(verifier=keys)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.post(
            "/api/v1/sessions", json={"station_id": "CP-9", "connector_id": 1}, headers=helpers.bearer("k")
        )
    assert response.status_code == 201
    assert keys.calls == 1


async def test_failing_verifier_is_500_not_401(app_factory, helpers) -> None:
    class Down:
        async def verify(self, token: str) -> Principal | None:
            raise ConnectionError("auth service unreachable")

    app = app_factory(verifier=ChainVerifier([Down(), helpers.DictVerifier({})]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/api/v1/stations", headers=helpers.bearer("whatever"))
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE


def test_role_implication() -> None:
    admin = Principal("a", frozenset({"admin"}))
    operator = Principal("o", frozenset({"operator"}))
    viewer = Principal("v", frozenset({"viewer"}))
    nobody = Principal("n", frozenset())
    assert all(admin.has_role(r) for r in ("admin", "operator", "viewer"))
    assert operator.has_role("viewer") and not operator.has_role("admin")
    assert viewer.has_role("viewer") and not viewer.has_role("operator")
    assert not nobody.has_role("viewer")


async def test_static_verifier() -> None:
    verifier = StaticTokenVerifier(SecretStr("s3cret"))
    principal = await verifier.verify("s3cret")
    assert principal is not None and principal.has_role("admin")
    assert await verifier.verify("s3cret ") is None
    assert await verifier.verify("") is None
    with pytest.raises(ValueError):
        StaticTokenVerifier(SecretStr(""))


async def test_chain_verifier_order_and_failures(helpers) -> None:
    first = helpers.DictVerifier({"a": Principal("first", frozenset({"viewer"}))})
    second = helpers.DictVerifier({"a": Principal("second", frozenset({"admin"})), "b": Principal("b", frozenset())})

    class Down:
        async def verify(self, token: str) -> Principal | None:
            raise ConnectionError("down")

    chain = ChainVerifier([first, second])
    assert (await chain.verify("a")).subject == "first"  # type: ignore[union-attr]
    assert (await chain.verify("b")).subject == "b"  # type: ignore[union-attr]
    assert await chain.verify("c") is None
    # A failing verifier does not hide a later verifier's answer...
    assert (await ChainVerifier([Down(), second]).verify("a")).subject == "second"  # type: ignore[union-attr]
    # ...but if nobody accepts the token the failure surfaces instead of a false "invalid token".
    with pytest.raises(ConnectionError):
        await ChainVerifier([Down(), second]).verify("zzz")

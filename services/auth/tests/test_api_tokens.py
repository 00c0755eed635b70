"""Drivers and id tokens through the API: registering, changing, searching, app tokens."""

from __future__ import annotations

from typing import Any

import pytest
from auth_testing import Running

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def post(auth: Running, path: str, body: dict[str, Any], status: int = 201) -> Any:
    response = await auth.api.post(path, json=body)
    assert response.status_code == status, response.text
    return response.json()


async def test_driver_lifecycle(auth: Running) -> None:
    driver = await post(
        auth, "/api/v1/drivers", {"name": "Grace Hopper", "email": "Grace@Example.com", "phone": "+1 555 0100"}
    )
    assert driver["email"] == "grace@example.com" and driver["max_concurrent_sessions"] is None
    again = await auth.api.post("/api/v1/drivers", json={"name": "G", "email": "grace@example.com"})
    assert again.status_code == 409
    patched = await auth.api.patch(
        f"/api/v1/drivers/{driver['driver_id']}", json={"language": "nl", "max_concurrent_sessions": 2, "phone": None}
    )
    assert patched.json() | {"updated_at": None} == driver | {
        "language": "nl",
        "max_concurrent_sessions": 2,
        "phone": None,
        "updated_at": None,
    }
    assert (await auth.api.patch(f"/api/v1/drivers/{driver['driver_id']}", json={"email": None})).status_code == 422
    found = await auth.api.get("/api/v1/drivers", params={"q": "grace"})
    assert [d["driver_id"] for d in found.json()["items"]] == [driver["driver_id"]]
    assert (await auth.api.get("/api/v1/drivers/nobody")).status_code == 404


async def test_tokens_of_every_type_and_search(auth: Running) -> None:
    driver = await post(auth, "/api/v1/drivers", {"name": "Tok", "email": "tok@example.com"})
    types = ["ISO14443", "ISO15693", "KeyCode", "Central", "eMAID", "MacAddress", "Local", "NoAuthorization"]
    for n, token_type in enumerate(types):
        created = await post(
            auth,
            "/api/v1/id-tokens",
            {"id_token": f"SRCH-{n}", "type": token_type, "driver_id": driver["driver_id"], "status": "Accepted"},
        )
        assert created["type"] == token_type and created["status"] == "Accepted"
    await post(auth, "/api/v1/id-tokens", {"id_token": "SRCH-X", "type": "ISO14443", "status": "Blocked"})
    await post(auth, "/api/v1/id-tokens", {"id_token": "OTHER-1", "type": "ISO14443", "group_id": "G-1"})

    async def search(**params: Any) -> list[str]:
        page = await auth.api.get("/api/v1/id-tokens", params=params)
        assert page.status_code == 200, page.text
        return [t["id_token"] for t in page.json()["items"]]

    assert await search(driver_id=driver["driver_id"]) == [f"SRCH-{n}" for n in range(8)]
    assert await search(prefix="srch-") == [*[f"SRCH-{n}" for n in range(8)], "SRCH-X"]
    assert await search(prefix="SRCH", status="Blocked") == ["SRCH-X"]
    assert await search(type="eMAID") == ["SRCH-4"]
    assert await search(group_id="G-1") == ["OTHER-1"]
    assert await search(prefix="%") == []  # LIKE wildcards are literal
    first = (await auth.api.get("/api/v1/id-tokens", params={"prefix": "SRCH", "limit": 4})).json()
    assert len(first["items"]) == 4 and first["next_offset"] == 4
    rest = (await auth.api.get("/api/v1/id-tokens", params={"prefix": "SRCH", "offset": 8})).json()
    assert [t["id_token"] for t in rest["items"]] == ["SRCH-X"] and rest["next_offset"] is None


async def test_token_changes_and_type_disambiguation(auth: Running) -> None:
    await post(auth, "/api/v1/id-tokens", {"id_token": "Dual-1", "type": "ISO14443", "group_id": "G-9"})
    exists = await auth.api.post("/api/v1/id-tokens", json={"id_token": "DUAL-1", "type": "ISO14443"})
    assert exists.status_code == 409  # ids are case-insensitive
    got = await auth.api.get("/api/v1/id-tokens/dual-1")
    assert got.json()["id_token"] == "Dual-1"

    cleared = await auth.api.patch("/api/v1/id-tokens/DUAL-1", json={"group_id": None, "status": "Blocked"})
    assert cleared.json()["group_id"] is None and cleared.json()["status"] == "Blocked"
    assert (await auth.api.patch("/api/v1/id-tokens/DUAL-1", json={"status": None})).status_code == 422

    await post(auth, "/api/v1/id-tokens", {"id_token": "DUAL-1", "type": "KeyCode"})
    ambiguous = await auth.api.get("/api/v1/id-tokens/DUAL-1")
    assert ambiguous.status_code == 409 and sorted(ambiguous.json()["types"]) == ["ISO14443", "KeyCode"]
    keycode = await auth.api.get("/api/v1/id-tokens/DUAL-1", params={"type": "KeyCode"})
    assert keycode.json()["status"] == "Accepted"
    assert (await auth.api.delete("/api/v1/id-tokens/DUAL-1", params={"type": "KeyCode"})).status_code == 204
    assert (await auth.api.get("/api/v1/id-tokens/DUAL-1")).json()["type"] == "ISO14443"
    assert (await auth.api.get("/api/v1/id-tokens/NOT-THERE")).status_code == 404


async def test_app_tokens_are_issued_to_drivers(auth: Running) -> None:
    driver = await post(auth, "/api/v1/drivers", {"name": "App", "email": "app@example.com"})
    issued = await post(auth, f"/api/v1/drivers/{driver['driver_id']}/app-tokens", {})
    assert issued["type"] == "Central" and issued["driver_id"] == driver["driver_id"]
    assert issued["status"] == "Accepted" and len(issued["id_token"]) <= 20  # fits 1.6 idTags too
    decision = await auth.gateway.authorize(
        "CP-APP", issued["id_token"], ocpp_version="ocpp2.0.1", token_type="Central"
    )
    assert decision.status == "Accepted" and decision.driver_id == driver["driver_id"]
    assert (await auth.api.post("/api/v1/drivers/nobody/app-tokens")).status_code == 404

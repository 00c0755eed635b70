"""The auth use cases' errors reach clients as the same problem+json from one mapping (entrypoints/errors.py)."""

from __future__ import annotations

import pytest
from auth_testing import Running

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_domain_errors_become_problems_naming_what_is_wrong(auth: Running) -> None:
    missing = await auth.api.get("/api/v1/stations/CP-NOPE")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert missing.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "No station 'CP-NOPE' exists.",
        "instance": "/api/v1/stations/CP-NOPE",
        "station_id": "CP-NOPE",
    }
    assert (await auth.api.get("/api/v1/local-lists/L-NOPE")).json()["list_id"] == "L-NOPE"
    assert (await auth.api.delete("/api/v1/api-keys/k-nope")).json()["key_id"] == "k-nope"

    token = {"id_token": "PROBLEM-1", "type": "ISO14443"}
    assert (await auth.api.post("/api/v1/id-tokens", json=token)).status_code == 201
    exists = await auth.api.post("/api/v1/id-tokens", json=token)
    assert exists.status_code == 409
    assert exists.json()["detail"] == "An id token 'PROBLEM-1' of type ISO14443 exists; PATCH it to change it."

    driver = (await auth.api.post("/api/v1/drivers", json={"name": "P", "email": "p@example.com"})).json()
    cleared = await auth.api.patch(f"/api/v1/drivers/{driver['driver_id']}", json={"email": None})
    assert cleared.status_code == 422 and cleared.json()["title"] == "Invalid driver"
    assert cleared.json()["errors"] == [{"field": "body.email", "message": "email cannot be cleared"}]

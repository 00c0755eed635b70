"""Operator API keys issued by the auth service are honoured, with their role, by every service."""

from __future__ import annotations

import time

import httpx
from e2e_support import RunningSystem

# A read-only route of services other than auth (the gateway's API too, as the README says).
VIEW = {
    "session": "/api/v1/sessions",
    "billing": "/api/v1/cdrs",
    "gateway": "/api/v1/connections",
    "diagnostics": "/api/v1/stations",
}


def eventually(check, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def test_keys_carry_their_role_everywhere_and_revocation_reaches_every_service(system: RunningSystem) -> None:
    created = httpx.post(
        f"{system.url('auth')}/api/v1/api-keys", json={"name": "dashboard", "role": "viewer"}, headers=system.headers
    )
    assert created.status_code == 201, created.text
    key, key_id = created.json()["key"], created.json()["key_id"]
    viewer = {"Authorization": f"Bearer {key}"}

    for service in VIEW:
        url = f"{system.url(service)}{VIEW[service]}"
        eventually(lambda url=url: httpx.get(url, headers=viewer).status_code == 200)
    # A viewer may read but not change anything.
    denied = httpx.post(
        f"{system.url('billing')}/api/v1/tariffs",
        json={"tariff_id": "T", "currency": "EUR", "energy_price_per_kwh": "0.30"},
        headers=viewer,
    )
    assert denied.status_code == 403
    assert "operator" in denied.json()["detail"]

    revoked = httpx.delete(f"{system.url('auth')}/api/v1/api-keys/{key_id}", headers=system.headers)
    assert revoked.status_code == 200
    for service in VIEW:
        url = f"{system.url(service)}{VIEW[service]}"
        eventually(lambda url=url: httpx.get(url, headers=viewer).status_code == 401)

"""Operator API keys issued by the auth service are honoured, with their role, by every service."""

from __future__ import annotations

import httpx
from e2e_support import RunningSystem
from voltline_devinfra.waiting import eventually

# A read-only route of services other than auth (the gateway's API too, as the README says).
VIEW = {
    "session": "/api/v1/sessions",
    "billing": "/api/v1/cdrs",
    "gateway": "/api/v1/connections",
    "diagnostics": "/api/v1/stations",
}


async def test_keys_carry_their_role_everywhere_and_revocation_reaches_every_service(system: RunningSystem) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        created = await http.post(
            f"{system.url('auth')}/api/v1/api-keys",
            json={"name": "dashboard", "role": "viewer"},
            headers=system.headers,
        )
        assert created.status_code == 201, created.text
        key, key_id = created.json()["key"], created.json()["key_id"]
        viewer = {"Authorization": f"Bearer {key}"}

        async def status(service: str) -> int:
            return (await http.get(f"{system.url(service)}{VIEW[service]}", headers=viewer)).status_code

        for service in VIEW:
            await eventually(lambda s=service: status(s), ok=lambda code: code == 200, what=f"{service} to honour it")
        # A viewer may read but not change anything.
        denied = await http.post(
            f"{system.url('billing')}/api/v1/tariffs",
            json={"tariff_id": "T", "currency": "EUR", "energy_price_per_kwh": "0.30"},
            headers=viewer,
        )
        assert denied.status_code == 403
        assert "operator" in denied.json()["detail"]

        revoked = await http.delete(f"{system.url('auth')}/api/v1/api-keys/{key_id}", headers=system.headers)
        assert revoked.status_code == 200
        for service in VIEW:
            await eventually(lambda s=service: status(s), ok=lambda code: code == 401, what=f"{service} to refuse it")

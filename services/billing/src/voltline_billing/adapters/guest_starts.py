"""A guest's start over the auth and session services' APIs (service_layer.ports.GuestStarts), with the admin
token every voltline service holds: the token is created at auth, the start asked of the session service, which
asks auth and sends the command to the station through the gateway as for every remote start."""

from __future__ import annotations

import httpx

from voltline_billing.service_layer.ports import StartRefused


class HttpGuestStarts:
    def __init__(self, auth_url: str, session_url: str, token: str, timeout_s: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        self._auth = httpx.AsyncClient(base_url=auth_url.rstrip("/") + "/api/v1", headers=headers, timeout=10.0)
        # The session service answers a remote start when the station has (command timeout + grace).
        self._session = httpx.AsyncClient(
            base_url=session_url.rstrip("/") + "/api/v1", headers=headers, timeout=timeout_s
        )

    async def is_online(self, station_id: str) -> bool | None:
        try:
            response = await self._session.get(f"/station-presence/{station_id}", timeout=5.0)
        except httpx.HTTPError:
            return None
        if response.status_code == 404:  # never heard from
            return False
        if response.status_code != 200:
            return None
        connected = response.json().get("connected")
        return connected if isinstance(connected, bool) else None

    async def create_token(self, id_token: str) -> None:
        try:
            response = await self._auth.post("/id-tokens", json={"id_token": id_token, "type": "Central"})
        except httpx.HTTPError as exc:
            raise StartRefused("auth_unavailable", f"the auth service did not answer: {type(exc).__name__}") from exc
        if response.status_code not in (200, 201, 409):  # 409: created by an earlier submit of the same page
            raise StartRefused("auth_unavailable", f"the auth service answered {response.status_code}")

    async def remote_start(self, station_id: str, evse_id: int, id_token: str) -> None:
        body = {"station_id": station_id, "id_token": id_token, "id_token_type": "Central", "evse_id": evse_id}
        try:
            response = await self._session.post("/remote-start", json=body)
        except httpx.HTTPError as exc:
            raise StartRefused("session_unavailable", f"no answer: {type(exc).__name__}") from exc
        if response.status_code == 200 and response.json().get("status") == "Accepted":
            return
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        code = problem.get("code") or ("station_rejected" if response.status_code == 200 else None)
        raise StartRefused(code, None if code else f"the session service answered {response.status_code}")

    async def retire_token(self, id_token: str) -> None:
        response = await self._auth.patch(f"/id-tokens/{id_token}", params={"type": "Central"},
                                          json={"status": "Expired"})  # fmt: skip
        response.raise_for_status()

    async def close(self) -> None:
        await self._auth.aclose()
        await self._session.aclose()

"""The services' public APIs over HTTP (httpx), called with the logged-in user's own key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
from voltline_chassis.logging import get_logger

from voltline_console.service_layer.ports import ApiAnswer

log = get_logger(__name__)


class HttpServiceApi:
    """One pooled client for all services; a service that cannot be reached answers a 503 problem."""

    def __init__(self, urls: Mapping[str, str], timeout_s: float, transport: httpx.AsyncBaseTransport | None = None):
        self._urls = {name: url.rstrip("/") for name, url in urls.items()}
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport)
        # open streams (one per open live page) get their own client: they must never take the pool's
        # connections from the pages' calls
        self._streams = httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, read=None), transport=transport, limits=httpx.Limits(max_connections=None)
        )

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        token: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> ApiAnswer:
        url = f"{self._urls[service]}/api/v1{path}"
        try:
            response = await self._client.request(
                method, url, params=params, json=json, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            log.warning("service unreachable", service=service, path=path, error=type(exc).__name__)
            return ApiAnswer(503, {"detail": f"The {service} service cannot be reached right now."})
        if response.is_success and response.headers.get("content-type", "").startswith(("text/csv", "image/svg+xml")):
            return ApiAnswer(response.status_code, response.text, dict(response.headers))  # a CSV export, a QR code
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = {"detail": f"The {service} service gave an unreadable answer (HTTP {response.status_code})."}
        return ApiAnswer(response.status_code, body, dict(response.headers))

    async def stream(
        self, service: str, path: str, token: str, *, params: Mapping[str, Any] | None = None
    ) -> AsyncIterator[bytes]:
        url = f"{self._urls[service]}/api/v1{path}"
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        try:  # no read timeout: the service sends a comment every 15 s, and a stream has no end
            async with self._streams.stream("GET", url, params=params, headers=headers) as response:
                if response.status_code != 200:
                    log.warning("stream refused", service=service, path=path, status=response.status_code)
                    return
                async for chunk in response.aiter_raw():
                    yield chunk
        except httpx.HTTPError as exc:
            log.warning("stream ended", service=service, path=path, error=type(exc).__name__)

    async def close(self) -> None:
        await self._client.aclose()
        await self._streams.aclose()

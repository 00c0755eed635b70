"""In-memory stand-ins for the console's ports: a key table and canned service answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

from voltline_console.domain.login import Identity
from voltline_console.service_layer.ports import ApiAnswer

ADMIN = "test-admin-token-0123456789"
KEYS = {
    ADMIN: Identity("bootstrap-admin", "admin"),
    "vk_operator": Identity("api-key:op", "operator"),
    "vk_viewer": Identity("api-key:view", "viewer"),
}


class FakeKeys:
    async def identify(self, token: str) -> Identity | None:
        return KEYS.get(token)


class FakeApi:
    """Answers `(service, method, path)` from `routes` (a value or a callable of the call), else 404; records calls."""

    def __init__(self, routes: Mapping[tuple[str, str, str], Any] | None = None) -> None:
        self.routes: dict[tuple[str, str, str], Any] = dict(routes or {})
        self.calls: list[tuple[str, str, str, str, Any, Any]] = []
        self.streams: dict[tuple[str, str], list[bytes]] = {}  # (service, path) -> the chunks, then the end
        self.stream_hold_s = 0.0  # how long a stream stays open after its chunks (a browser test's live page)

    async def call(
        self, service: str, method: str, path: str, token: str, *, params: Any = None, json: Any = None
    ) -> ApiAnswer:
        self.calls.append((service, method, path, token, params, json))
        if token not in KEYS:
            return ApiAnswer(401, {"detail": "Invalid token."})
        answer = self.routes.get((service, method, path))
        if callable(answer):
            answer = answer(params, json)
        if answer is None:
            return ApiAnswer(404, {"detail": f"No {path}."})
        return answer if isinstance(answer, ApiAnswer) else ApiAnswer(200, answer)

    async def stream(self, service: str, path: str, token: str, *, params: Any = None) -> AsyncIterator[bytes]:
        self.calls.append((service, "STREAM", path, token, params, None))
        if token in KEYS:
            for chunk in self.streams.get((service, path), []):
                yield chunk
            if self.stream_hold_s:
                await asyncio.sleep(self.stream_hold_s)

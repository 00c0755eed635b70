"""What the console's use cases need from the outside (ADR 0010): a key check, a session store, the services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from voltline_console.domain.login import Identity, LoginSession


class KeyCheck(Protocol):
    async def identify(self, token: str) -> Identity | None:
        """The identity of an operator API key or the admin token; None for an unknown one."""
        ...


class SessionStore(Protocol):
    async def add(self, session: LoginSession) -> None: ...

    async def get(self, session_id: str) -> LoginSession | None: ...

    async def remove(self, session_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class ApiAnswer:
    """A service's answer: JSON body (or None), or a problem+json document when `status` is not 2xx."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def detail(self) -> str:
        if isinstance(self.body, Mapping):
            return str(self.body.get("detail") or self.body.get("title") or f"HTTP {self.status}")
        return f"HTTP {self.status}"

    def field_errors(self) -> dict[str, str]:
        """problem+json `errors` by field name without its location (`body.tariff_id` -> `tariff_id`)."""
        found: dict[str, str] = {}
        errors = self.body.get("errors") if isinstance(self.body, Mapping) else None
        for item in errors or ():
            if isinstance(item, Mapping) and item.get("field"):
                name = str(item["field"]).split(".", 1)[-1]
                found.setdefault(name, str(item.get("message") or "invalid"))
        return found


class ServiceApi(Protocol):
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
        """`method` `path` (under /api/v1) of `service` with the user's token; an unreachable service is a 503."""
        ...

    def stream(
        self, service: str, path: str, token: str, *, params: Mapping[str, Any] | None = None
    ) -> AsyncIterator[bytes]:
        """A Server-Sent Events route of `service`, its bytes as they come; ends when the service ends it, refuses
        or cannot be reached (the browser then polls until it reconnects)."""
        ...

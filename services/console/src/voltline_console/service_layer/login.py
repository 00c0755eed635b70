"""Logging in and out: a key becomes a server-side session; the browser only holds its random id."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from voltline_console.domain.login import LoginSession
from voltline_console.service_layer.ports import KeyCheck, SessionStore


class InvalidKey(Exception):
    """The key is neither the admin token nor an active API key."""


class LoginService:
    def __init__(
        self,
        keys: KeyCheck,
        store: SessionStore,
        *,
        idle: timedelta,
        max_age: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._keys, self._store, self._idle, self._max_age, self._clock = keys, store, idle, max_age, clock

    async def login(self, token: str) -> LoginSession:
        token = token.strip()
        identity = await self._keys.identify(token) if token else None
        if identity is None:
            raise InvalidKey("This key is not valid (unknown, revoked or expired).")
        now = self._clock()
        session = LoginSession(
            session_id=secrets.token_urlsafe(32),
            token=token,
            identity=identity,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
        )
        await self._store.add(session)
        return session

    async def current(self, session_id: str | None) -> LoginSession | None:
        """The live session of this cookie; an expired one is forgotten. A revoked key is noticed by the
        services (401), which ends the session too (`logout`)."""
        if not session_id:
            return None
        session = await self._store.get(session_id)
        if session is None:
            return None
        now = self._clock()
        if session.expired(now, self._idle, self._max_age):
            await self._store.remove(session_id)
            return None
        session.last_seen_at = now
        return session

    async def logout(self, session_id: str | None) -> None:
        if session_id:
            await self._store.remove(session_id)

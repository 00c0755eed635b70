"""Logged-in sessions in this process's memory: the console keeps no database (issue 17).

A restart logs everyone out, and replicas do not share sessions (run one, or route a browser to one replica).
"""

from __future__ import annotations

from collections import OrderedDict

from voltline_console.domain.login import LoginSession


class MemorySessionStore:
    """At most `max_sessions`; past that the least recently used session is dropped (logged out)."""

    def __init__(self, max_sessions: int) -> None:
        self._sessions: OrderedDict[str, LoginSession] = OrderedDict()
        self._max = max_sessions

    async def add(self, session: LoginSession) -> None:
        self._sessions[session.session_id] = session
        while len(self._sessions) > self._max:
            self._sessions.popitem(last=False)

    async def get(self, session_id: str) -> LoginSession | None:
        session = self._sessions.get(session_id)
        if session is not None:
            self._sessions.move_to_end(session_id)
        return session

    async def remove(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)

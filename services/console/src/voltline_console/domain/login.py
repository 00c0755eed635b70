"""Who is logged in and what they may do: the console's only state (no I/O here)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Role = Literal["viewer", "operator", "admin"]
_RANK: dict[str, int] = {"viewer": 0, "operator": 1, "admin": 2}


@dataclass(frozen=True, slots=True)
class Identity:
    """What a key is, as the key check says: `subject` names it in the services' audit logs."""

    subject: str
    role: Role


def strongest_role(roles: frozenset[str]) -> Role | None:
    """A principal may carry several roles; the console shows what the strongest allows."""
    known = [r for r in roles if r in _RANK]
    if not known:
        return None
    best = max(known, key=_RANK.__getitem__)
    return "admin" if best == "admin" else "operator" if best == "operator" else "viewer"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Which buttons a page shows. The services enforce the roles anyway: this only hides what would be refused."""

    write: bool  # maintenance commands, acknowledging alerts, tariffs
    admin: bool  # API keys, audit log

    @classmethod
    def of(cls, role: Role) -> Capabilities:
        return cls(write=_RANK[role] >= _RANK["operator"], admin=role == "admin")


@dataclass(slots=True)
class LoginSession:
    """One logged-in browser. The key stays server-side: the cookie carries only the random `session_id`."""

    session_id: str
    token: str
    identity: Identity
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime

    @property
    def can(self) -> Capabilities:
        return Capabilities.of(self.identity.role)

    def expired(self, now: datetime, idle: timedelta, max_age: timedelta) -> bool:
        return now - self.last_seen_at >= idle or now - self.created_at >= max_age

    def csrf_matches(self, given: str | None) -> bool:
        """Constant-time: a form or htmx request must echo the token its page was rendered with."""
        return given is not None and hmac.compare_digest(given.encode(), self.csrf_token.encode())

"""Operator access: API keys with roles, and the audit trail of every change made through the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Role = Literal["admin", "operator", "viewer"]
SYSTEM = "system"  # the actor of changes nobody asked for through the API (e.g. an unknown station booting)


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    role: Role
    key_hash: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True)
class AuditEntry:
    """Who did what to which thing, when; `details` never holds a secret (only field names for those)."""

    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str | None
    details: dict[str, Any] = field(default_factory=dict)
    id: int | None = None

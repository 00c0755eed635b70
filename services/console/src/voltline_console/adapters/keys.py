"""The key check: the admin token and the API keys the auth service issued, as every service checks them.

The console follows the signed api-keys topic (voltline_chassis's key feed), so a login knows the key's role
without a call to auth, and a key works here from the moment it is issued until it is revoked.
"""

from __future__ import annotations

from voltline_chassis.security import TokenVerifier

from voltline_console.domain.login import Identity, strongest_role


class ChassisKeyCheck:
    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    async def identify(self, token: str) -> Identity | None:
        principal = await self._verifier.verify(token)
        if principal is None:
            return None
        role = strongest_role(principal.roles)
        return Identity(principal.subject, role) if role is not None else None

"""Bearer-token authentication and role checks for ``/api/v1``.

Verification is behind the :class:`TokenVerifier` protocol so the chassis never knows where keys
live: the bootstrap admin token today, the auth service's API-key table (directly in auth, over HTTP
elsewhere) later.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal, Protocol, runtime_checkable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from voltline_chassis.logging import bind_context
from voltline_chassis.problems import Problem

Role = Literal["admin", "operator", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "operator", "viewer")
# A granted role implies these roles: admin ⊇ operator ⊇ viewer.
_IMPLIES: dict[str, frozenset[str]] = {
    "admin": frozenset({"admin", "operator", "viewer"}),
    "operator": frozenset({"operator", "viewer"}),
    "viewer": frozenset({"viewer"}),
}
_CHALLENGE = 'Bearer realm="voltline"'
_STATE_KEY = "principal"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling; ``subject`` goes into audit logs (never the token)."""

    subject: str
    roles: frozenset[str]

    @property
    def effective_roles(self) -> frozenset[str]:
        return frozenset().union(*(_IMPLIES.get(role, frozenset()) for role in self.roles))

    def has_role(self, role: str) -> bool:
        return role in self.effective_roles


@runtime_checkable
class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Principal | None:
        """Return the principal for a valid token, ``None`` for an unknown one; raise if unsure."""
        ...


class StaticTokenVerifier:
    """Accepts only the bootstrap admin token from settings (constant-time comparison)."""

    def __init__(self, admin_token: SecretStr, subject: str = "bootstrap-admin") -> None:
        secret = admin_token.get_secret_value().encode()
        if not secret:
            raise ValueError("admin_token must not be empty")
        self._secret = secret
        self._principal = Principal(subject=subject, roles=frozenset({"admin"}))

    async def verify(self, token: str) -> Principal | None:
        return self._principal if hmac.compare_digest(token.encode(), self._secret) else None


class ChainVerifier:
    """Tries verifiers in order; the first principal wins.

    If none accepts the token but one of them *failed* (e.g. the auth service is unreachable), the
    error is re-raised so the caller gets a 5xx instead of a misleading 401.
    """

    def __init__(self, verifiers: Sequence[TokenVerifier]) -> None:
        self._verifiers = tuple(verifiers)

    async def verify(self, token: str) -> Principal | None:
        failure: Exception | None = None
        for verifier in self._verifiers:
            try:
                principal = await verifier.verify(token)
            except Exception as exc:
                failure = failure or exc
                continue
            if principal is not None:
                return principal
        if failure is not None:
            raise failure
        return None


def _unauthorized(detail: str, invalid: bool) -> Problem:
    challenge = f'{_CHALLENGE}, error="invalid_token"' if invalid else _CHALLENGE
    return Problem(401, detail, headers={"WWW-Authenticate": challenge})


def _parse_bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def _verify(verifier: TokenVerifier, header: str | None) -> Principal:
    token = _parse_bearer(header)
    if token is None:
        raise _unauthorized("This endpoint requires an 'Authorization: Bearer <token>' header.", invalid=False)
    principal = await verifier.verify(token)
    if principal is None:
        raise _unauthorized("The bearer token is invalid, expired or revoked.", invalid=True)
    return principal


def _store(scope: Scope, principal: Principal) -> None:
    scope.setdefault("state", {})[_STATE_KEY] = principal
    # Bound for the rest of the request task so every handler log line is attributable.
    bind_context(principal=principal.subject)


_bearer_scheme = HTTPBearer(auto_error=False, description="API key or the bootstrap admin token")


async def authenticate(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)],
) -> Principal:
    """Resolve the caller; reuses the principal already established by :class:`BearerAuthGate`."""
    cached = request.scope.get("state", {}).get(_STATE_KEY)
    if isinstance(cached, Principal):
        return cached
    verifier = getattr(request.app.state, "token_verifier", None)
    if verifier is None:
        raise RuntimeError("no TokenVerifier on app.state.token_verifier; build the app with create_app()")
    principal = await _verify(verifier, request.headers.get("authorization"))
    _store(request.scope, principal)
    return principal


def require_role(role: Role) -> Callable[..., Awaitable[Principal]]:
    """Dependency factory: 401 without a valid token, 403 unless the principal holds ``role``."""
    if role not in _IMPLIES:
        raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")

    async def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.has_role(role):
            granted = ", ".join(sorted(principal.roles)) or "no roles"
            raise Problem(
                403,
                f"This operation requires the '{role}' role; your credentials grant: {granted}.",
                extra={"required_role": role},
            )
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


ViewerPrincipal = Annotated[Principal, Depends(require_role("viewer"))]
OperatorPrincipal = Annotated[Principal, Depends(require_role("operator"))]
AdminPrincipal = Annotated[Principal, Depends(require_role("admin"))]


class BearerAuthGate:
    """Authenticates every HTTP request under ``prefix`` before routing and body parsing.

    The role dependencies alone would let an anonymous caller learn that a route exists (404 vs
    401) or get a 422 for a malformed body before being told to authenticate.
    """

    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenVerifier,
        prefix: str = "/api/v1",
        public: Sequence[tuple[str, str]] = (),
    ) -> None:
        """`public`: (method, path) pairs served without a token (a driver's sign-up and sign-in)."""
        self.app = app
        self.verifier = verifier
        self.prefix = prefix.rstrip("/")
        self.public = frozenset((method.upper(), path) for method, path in public)

    def _guarded(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._guarded(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        if (scope.get("method", ""), scope.get("path", "")) in self.public:
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        try:
            principal = await _verify(self.verifier, header)
        except Problem as problem:
            await problem.to_response(scope.get("path"))(scope, receive, send)
            return
        _store(scope, principal)
        await self.app(scope, receive, send)

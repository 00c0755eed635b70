"""Operator API: API keys, the audit log (admin), and the authorisation decision log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from voltline_chassis.security import AdminPrincipal, require_role

from voltline_auth.domain.access import ApiKey, AuditEntry, Role
from voltline_auth.domain.tokens import normalise
from voltline_auth.entrypoints.common import Limit, Offset, Page, fetch_size
from voltline_auth.service_layer import access as uc
from voltline_auth.service_layer.context import AuthContext


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100, description="Who or what uses the key.")]
    role: Role
    expires_at: AwareDatetime | None = Field(default=None, description="In the future; none: until revoked.")

    @field_validator("expires_at")
    @classmethod
    def _future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value <= datetime.now(UTC):
            raise ValueError("expires_at must be in the future: a key that is already expired is of no use")
        return value


class ApiKeyOut(BaseModel):
    key_id: str
    name: str
    role: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(**{k: v for k, v in key.__dict__.items() if k != "key_hash"})


class NewApiKeyOut(ApiKeyOut):
    key: str = Field(description="The bearer token. Shown this once; only its hash is kept.")


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str | None
    details: dict[str, Any]


class DecisionOut(BaseModel):
    at: datetime
    station_id: str
    id_token: str = Field(description="As presented, upper-cased (ids are case-insensitive).")
    token_type: str
    purpose: str
    ocpp_version: str
    status: str
    reason: str
    driver_id: str | None
    evse_id: int | None
    transaction_id: str | None


def build_router(ctx: AuthContext) -> APIRouter:
    router = APIRouter(tags=["operator access"])
    admin = [Depends(require_role("admin"))]
    viewer = [Depends(require_role("viewer"))]

    @router.post("/api-keys", status_code=201)
    async def create_key(body: ApiKeyIn, response: Response, who: AdminPrincipal) -> NewApiKeyOut:
        key, secret = await uc.create_key(
            ctx, name=body.name, role=body.role, expires_at=body.expires_at, actor=who.subject
        )
        response.headers["Location"] = f"/api/v1/api-keys/{key.key_id}"
        response.headers["Cache-Control"] = "no-store"
        return NewApiKeyOut(**ApiKeyOut.of(key).model_dump(), key=secret)

    @router.get("/api-keys", dependencies=admin)
    async def list_keys(role: Role | None = None, limit: Limit = 100, offset: Offset = 0) -> Page[ApiKeyOut]:
        found = await uc.list_keys(ctx, role=role, limit=fetch_size(limit), offset=offset)
        return Page[ApiKeyOut].of([ApiKeyOut.of(k) for k in found], limit, offset)

    @router.get("/api-keys/{key_id}", dependencies=admin)
    async def get_key(key_id: str) -> ApiKeyOut:
        return ApiKeyOut.of(await uc.get_key(ctx, key_id))

    @router.delete("/api-keys/{key_id}")
    async def revoke_key(key_id: str, who: AdminPrincipal) -> ApiKeyOut:
        """Revoke at once here; other services stop accepting it as soon as the revocation reaches them."""
        return ApiKeyOut.of(await uc.revoke_key(ctx, key_id, actor=who.subject))

    @router.get("/audit", dependencies=admin)
    async def audit(
        actor: str | None = None,
        action: str | None = None,
        target_id: str | None = None,
        since: Annotated[AwareDatetime | None, Query(description="From this time (inclusive).")] = None,
        until: Annotated[AwareDatetime | None, Query(description="Before this time.")] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Page[AuditOut]:
        """Every change made through the API, newest first."""
        found: list[AuditEntry] = await uc.list_audit(
            ctx,
            actor=actor,
            action=action,
            target_id=target_id,
            since=since,
            until=until,
            limit=fetch_size(limit),
            offset=offset,
        )
        return Page[AuditOut].of([AuditOut(**e.__dict__) for e in found], limit, offset)

    @router.get("/authorizations", dependencies=viewer)
    async def decisions(
        station_id: str | None = None,
        id_token: Annotated[str | None, Query(max_length=255)] = None,
        status: str | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Page[DecisionOut]:
        """Authorisation decisions, newest first (written in batches: the last half second may be missing)."""
        rows = await uc.list_decisions(
            ctx,
            station_id=station_id,
            key=normalise(id_token) if id_token else None,
            status=status,
            limit=fetch_size(limit),
            offset=offset,
        )
        items = [DecisionOut(id_token=r.pop("id_token_key"), **{k: v for k, v in r.items() if k != "id"}) for r in rows]
        return Page[DecisionOut].of(items, limit, offset)

    return router

"""Operator API: drivers and their id tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from voltline_chassis.security import OperatorPrincipal, require_role

from voltline_auth.domain.tokens import Driver, IdToken, IdTokenType, TokenStatus
from voltline_auth.entrypoints.common import (
    Limit,
    Offset,
    Page,
    TokenTypeQuery,
    fetch_size,
    invalid,
)
from voltline_auth.service_layer import drivers as drv
from voltline_auth.service_layer import tokens as tok
from voltline_auth.service_layer.context import AuthContext

Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Phone = Annotated[str, Field(max_length=32, pattern=r"^\+?[0-9 ()\-]{4,31}$")]
Language = Annotated[str, Field(max_length=8, pattern=r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{1,4})?$")]
Limit1 = Annotated[int, Field(ge=1, le=100, description="Concurrent sessions allowed; omit for no limit.")]
IdTokenStr = Annotated[str, Field(max_length=36)]
GroupStr = Annotated[str, Field(min_length=1, max_length=36)]


class DriverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100)]
    email: Email
    phone: Phone | None = None
    language: Language | None = Field(default=None, description="Preferred language (RFC 5646), sent to 2.x stations.")
    max_concurrent_sessions: Limit1 | None = None


class DriverPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    email: Email | None = None
    phone: Phone | None = None
    language: Language | None = None
    max_concurrent_sessions: Limit1 | None = None


class DriverOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "driver_id": "drv_1",
                    "name": "Grace Hopper",
                    "email": "grace@example.com",
                    "phone": None,
                    "language": "en",
                    "max_concurrent_sessions": None,
                    "created_at": "2026-11-20T10:00:00Z",
                    "updated_at": "2026-11-20T10:00:00Z",
                }
            ]
        }
    )

    driver_id: str
    name: str
    email: str
    phone: str | None
    language: str | None
    max_concurrent_sessions: int | None
    created_at: datetime
    updated_at: datetime


class IdTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id_token: IdTokenStr
    type: IdTokenType
    status: TokenStatus = "Accepted"
    driver_id: str | None = None
    expires_at: AwareDatetime | None = None
    group_id: GroupStr | None = Field(default=None, description="1.6 parentIdTag / 2.x groupIdToken.")


class IdTokenPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: TokenStatus | None = None
    driver_id: str | None = None
    expires_at: AwareDatetime | None = None
    group_id: GroupStr | None = None


class IdTokenOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id_token": "04A1B2C3",
                    "type": "ISO14443",
                    "status": "Accepted",
                    "driver_id": "drv_1",
                    "expires_at": None,
                    "group_id": None,
                    "created_at": "2026-11-20T10:00:00Z",
                    "updated_at": "2026-11-20T10:00:00Z",
                }
            ]
        }
    )

    id_token: str
    type: str
    status: str
    driver_id: str | None
    expires_at: datetime | None
    group_id: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, token: IdToken) -> IdTokenOut:
        return cls(**token.__dict__)


def _driver_out(driver: Driver) -> DriverOut:
    return DriverOut(**driver.__dict__)


def build_router(ctx: AuthContext) -> APIRouter:
    router = APIRouter(tags=["drivers and id tokens"])
    viewer = [Depends(require_role("viewer"))]

    @router.post("/drivers", status_code=201)
    async def create_driver(body: DriverIn, response: Response, who: OperatorPrincipal) -> DriverOut:
        driver = await drv.create_driver(ctx, **body.model_dump(), actor=who.subject)
        response.headers["Location"] = f"/api/v1/drivers/{driver.driver_id}"
        return _driver_out(driver)

    @router.get("/drivers", dependencies=viewer)
    async def list_drivers(
        q: Annotated[str | None, Query(max_length=100, description="Prefix of the e-mail or name.")] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Page[DriverOut]:
        found = await drv.list_drivers(ctx, q=q, limit=fetch_size(limit), offset=offset)
        return Page[DriverOut].of([_driver_out(d) for d in found], limit, offset)

    @router.get("/drivers/{driver_id}", dependencies=viewer)
    async def get_driver(driver_id: str) -> DriverOut:
        return _driver_out(await drv.get_driver(ctx, driver_id))

    @router.patch("/drivers/{driver_id}")
    async def patch_driver(driver_id: str, body: DriverPatch, who: OperatorPrincipal) -> DriverOut:
        changes = {name: getattr(body, name) for name in body.model_fields_set}
        return _driver_out(await drv.update_driver(ctx, driver_id, changes, actor=who.subject))

    @router.post("/drivers/{driver_id}/app-tokens", status_code=201)
    async def issue_app_token(driver_id: str, who: OperatorPrincipal) -> IdTokenOut:
        """A Central id token for the driver's mobile app (remote starts use it)."""
        return IdTokenOut.of(await drv.issue_app_token(ctx, driver_id, actor=who.subject))

    @router.post("/id-tokens", status_code=201)
    async def create_token(body: IdTokenIn, response: Response, who: OperatorPrincipal) -> IdTokenOut:
        token = await tok.create_token(
            ctx,
            body.id_token,
            body.type,
            status=body.status,
            driver_id=body.driver_id,
            expires_at=body.expires_at,
            group_id=body.group_id,
            actor=who.subject,
        )
        response.headers["Location"] = f"/api/v1/id-tokens/{token.id_token}?type={token.type}"
        return IdTokenOut.of(token)

    @router.get("/id-tokens", dependencies=viewer)
    async def list_tokens(
        driver_id: str | None = None,
        prefix: Annotated[str | None, Query(max_length=36, description="Start of the id (case-insensitive).")] = None,
        status: TokenStatus | None = None,
        type: IdTokenType | None = None,
        group_id: str | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Page[IdTokenOut]:
        found = await tok.search_tokens(
            ctx,
            driver_id=driver_id,
            prefix=prefix,
            status=status,
            token_type=type,
            group_id=group_id,
            limit=fetch_size(limit),
            offset=offset,
        )
        return Page[IdTokenOut].of([IdTokenOut.of(t) for t in found], limit, offset)

    @router.get("/id-tokens/{id_token:path}", dependencies=viewer)
    async def get_token(id_token: str, type: TokenTypeQuery = None) -> IdTokenOut:
        return IdTokenOut.of(await tok.get_token(ctx, id_token, type))

    @router.patch("/id-tokens/{id_token:path}")
    async def patch_token(
        id_token: str, body: IdTokenPatch, who: OperatorPrincipal, type: TokenTypeQuery = None
    ) -> IdTokenOut:
        """Blocking (or expiring) a token also updates the local lists holding it and clears the
        authorisation caches of stations that may have it cached."""
        changes = {name: getattr(body, name) for name in body.model_fields_set}
        if changes.get("status", "") is None:
            raise invalid("status", "status cannot be cleared", title="Invalid id token")
        return IdTokenOut.of(await tok.update_token(ctx, id_token, type, changes, actor=who.subject))

    @router.delete("/id-tokens/{id_token:path}", status_code=204)
    async def delete_token(id_token: str, who: OperatorPrincipal, type: TokenTypeQuery = None) -> Response:
        await tok.delete_token(ctx, id_token, type, actor=who.subject)
        return Response(status_code=204)

    return router

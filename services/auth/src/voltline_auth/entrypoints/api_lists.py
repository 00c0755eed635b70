"""Operator API: local authorisation lists and their entries (stations are assigned with PATCH /stations)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field
from voltline_chassis.security import OperatorPrincipal, require_role

from voltline_auth.domain.local_lists import LocalList
from voltline_auth.entrypoints.api_tokens import IdTokenOut
from voltline_auth.entrypoints.common import (
    Limit,
    ListIdStr,
    Offset,
    Page,
    TokenTypeQuery,
    fetch_size,
)
from voltline_auth.service_layer import local_lists as uc
from voltline_auth.service_layer.context import AuthContext


class LocalListIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    list_id: ListIdStr
    description: Annotated[str, Field(max_length=200)] | None = None


class LocalListOut(BaseModel):
    list_id: str
    description: str | None
    version: int = Field(description="Bumped by every change; what stations are brought up to.")
    created_at: datetime
    updated_at: datetime
    size: int | None = None
    stations: list[str] | None = None

    @classmethod
    def of(cls, local_list: LocalList, size: int | None = None, stations: list[str] | None = None) -> LocalListOut:
        return cls(**local_list.__dict__, size=size, stations=stations)


class EntryOut(BaseModel):
    list_id: str
    version: int
    id_token: IdTokenOut


def build_router(ctx: AuthContext) -> APIRouter:
    router = APIRouter(prefix="/local-lists", tags=["local authorisation lists"])
    viewer = [Depends(require_role("viewer"))]

    @router.post("", status_code=201)
    async def create(body: LocalListIn, response: Response, who: OperatorPrincipal) -> LocalListOut:
        created = await uc.create_list(ctx, body.list_id, description=body.description, actor=who.subject)
        response.headers["Location"] = f"/api/v1/local-lists/{created.list_id}"
        return LocalListOut.of(created, 0, [])

    @router.get("", dependencies=viewer)
    async def list_(limit: Limit = 100, offset: Offset = 0) -> Page[LocalListOut]:
        found = await uc.list_lists(ctx, limit=fetch_size(limit), offset=offset)
        return Page[LocalListOut].of([LocalListOut.of(x) for x in found], limit, offset)

    @router.get("/{list_id}", dependencies=viewer)
    async def get(list_id: str) -> LocalListOut:
        return LocalListOut.of(*await uc.get_list(ctx, list_id))

    @router.delete("/{list_id}", status_code=204)
    async def delete(list_id: str, who: OperatorPrincipal) -> Response:
        await uc.delete_list(ctx, list_id, actor=who.subject)
        return Response(status_code=204)

    @router.get("/{list_id}/entries", dependencies=viewer)
    async def entries(list_id: str, limit: Limit = 100, offset: Offset = 0) -> Page[IdTokenOut]:
        found = await uc.list_entries(ctx, list_id, limit=fetch_size(limit), offset=offset)
        return Page[IdTokenOut].of([IdTokenOut.of(t) for t in found], limit, offset)

    async def _membership(list_id: str, id_token: str, token_type: str | None, add: bool, actor: str) -> EntryOut:
        change = uc.add_entry if add else uc.remove_entry
        local_list, token = await change(ctx, list_id, id_token, token_type, actor=actor)
        return EntryOut(list_id=list_id, version=local_list.version, id_token=IdTokenOut.of(token))

    @router.put("/{list_id}/entries/{id_token:path}")
    async def add(list_id: str, id_token: str, who: OperatorPrincipal, type: TokenTypeQuery = None) -> EntryOut:
        """Put a registered token on the list; its stations get it with their next (Differential) update."""
        return await _membership(list_id, id_token, type, True, who.subject)

    @router.delete("/{list_id}/entries/{id_token:path}")
    async def remove(list_id: str, id_token: str, who: OperatorPrincipal, type: TokenTypeQuery = None) -> EntryOut:
        return await _membership(list_id, id_token, type, False, who.subject)

    return router

"""Id tokens: registering, changing and removing them, and telling stations what changed."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from voltline_auth.domain.tokens import (
    TOKEN_STATUSES,
    IdToken,
    InvalidToken,
    TokenStatus,
    check_id_token,
    normalise,
)
from voltline_auth.service_layer.context import AuthContext, audit
from voltline_auth.service_layer.unit_of_work import AuthUnitOfWork

_LIST_RELEVANT = ("status", "expires_at", "group_id", "driver_id")
_CHANGEABLE = frozenset({"status", "expires_at", "group_id", "driver_id"})


class TokenExists(Exception):
    pass


class TokenNotFound(Exception):
    pass


class TokenAmbiguous(Exception):
    """Several tokens share this id (different types): the caller must name the type."""

    def __init__(self, types: list[str]) -> None:
        super().__init__(", ".join(types))
        self.types = types


def _shown(token: IdToken) -> dict[str, Any]:
    return {f.name: getattr(token, f.name) for f in fields(token) if f.name not in ("created_at", "updated_at")}


async def _check_driver(uow: AuthUnitOfWork, driver_id: str | None) -> None:
    if driver_id is not None and await uow.drivers.get(driver_id) is None:
        raise InvalidToken("driver_id", f"there is no driver {driver_id!r}")


async def resolve_token(uow: AuthUnitOfWork, id_token: str, token_type: str | None) -> IdToken:
    key = normalise(id_token)
    if token_type is not None:
        token = await uow.tokens.get(key, token_type)
        if token is None:
            raise TokenNotFound(id_token)
        return token
    matches = await uow.tokens.by_key(key)
    if not matches:
        raise TokenNotFound(id_token)
    if len(matches) > 1:
        raise TokenAmbiguous([t.type for t in matches])
    return matches[0]


def _revokes(before: IdToken, after: IdToken | None, now: datetime) -> bool:
    """Did a station's cached "Accepted" for this token just become wrong?"""
    if not before.usable_at(now):
        return False
    if after is None or not after.usable_at(now):
        return True
    return after.expires_at is not None and (before.expires_at is None or after.expires_at < before.expires_at)


async def propagate(ctx: AuthContext, uow: AuthUnitOfWork, before: IdToken | None, after: IdToken | None) -> None:
    """Bump the lists holding the token (stations get a Differential update) and, when the token stopped
    being usable, have every station that may have cached it clear its authorisation cache (call
    ctx.settle() before the transaction, so the latest decisions are in the log)."""
    token = after or before
    assert token is not None
    now = ctx.clock()
    key = (token.key, token.type)
    list_ids = await uow.lists.lists_with(key)
    for list_id in list_ids:
        if after is None:
            await uow.lists.remove_entry(list_id, key)
        version = await uow.lists.bump(list_id, now)
        await uow.lists.record_change(list_id, version, key, token.id_token)
    await uow.sync.bump(await uow.sync.stations_on_lists(list_ids))
    if before is not None and _revokes(before, after, now):
        cached_at = set(await uow.sessions.stations_for_token(token.key))
        cached_at |= set(await uow.decisions.stations_that_accepted(token.key, now - ctx.cache_window))
        await uow.sync.bump(cached_at, clear_cache=True)


async def create_token(
    ctx: AuthContext,
    id_token: str,
    token_type: str,
    *,
    status: TokenStatus = "Accepted",
    driver_id: str | None = None,
    expires_at: datetime | None = None,
    group_id: str | None = None,
    actor: str,
) -> IdToken:
    check_id_token(id_token, token_type)
    now = ctx.clock()
    token = IdToken(id_token, token_type, status, driver_id, expires_at, group_id, now, now)
    async with ctx.uow() as uow:
        if await uow.tokens.get(token.key, token_type) is not None:
            raise TokenExists(id_token, token_type)
        await _check_driver(uow, driver_id)
        await uow.tokens.add(token)
        await audit(ctx, uow, actor, "id_token.created", "id_token", id_token, **_shown(token))
        await uow.commit()
    ctx.tokens.invalidate(token.key)
    return token


async def get_token(ctx: AuthContext, id_token: str, token_type: str | None) -> IdToken:
    async with ctx.uow() as uow:
        return await resolve_token(uow, id_token, token_type)


async def update_token(
    ctx: AuthContext, id_token: str, token_type: str | None, changes: dict[str, Any], *, actor: str
) -> IdToken:
    unknown = set(changes) - _CHANGEABLE
    if unknown:
        raise InvalidToken(sorted(unknown)[0], "this field cannot be changed")
    if changes.get("status", "Accepted") not in TOKEN_STATUSES:
        raise InvalidToken("status", f"status must be one of {', '.join(TOKEN_STATUSES)}")
    await ctx.settle()  # buffered decisions count for the cache clears; outside the transaction (SQLite locks)
    async with ctx.uow() as uow:
        before = await resolve_token(uow, id_token, token_type)
        await _check_driver(uow, changes.get("driver_id"))
        after = before.changed(ctx.clock(), **changes)
        await uow.tokens.save(after)
        if any(getattr(before, name) != getattr(after, name) for name in _LIST_RELEVANT):
            await propagate(ctx, uow, before, after)
        await audit(ctx, uow, actor, "id_token.updated", "id_token", before.id_token, type=before.type, **changes)
        await uow.commit()
    ctx.tokens.invalidate(after.key)
    await ctx.decisions_published()
    ctx.kick()
    return after


async def delete_token(ctx: AuthContext, id_token: str, token_type: str | None, *, actor: str) -> None:
    await ctx.settle()
    async with ctx.uow() as uow:
        token = await resolve_token(uow, id_token, token_type)
        await propagate(ctx, uow, token, None)
        await uow.tokens.delete(token)
        await audit(ctx, uow, actor, "id_token.deleted", "id_token", token.id_token, type=token.type)
        await uow.commit()
    ctx.tokens.invalidate(token.key)
    await ctx.decisions_published()
    ctx.kick()


async def search_tokens(ctx: AuthContext, **filters: Any) -> list[IdToken]:
    async with ctx.uow() as uow:
        return await uow.tokens.search(**filters)

"""Operator API keys (issued, listed, revoked, published for other services) and the audit log."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime

from voltline_chassis.api_keys import ApiKeyRecord, hash_api_key, new_api_key, sign_record
from voltline_events.payloads.auth import ApiKeyRegistered

from voltline_auth.domain.access import ApiKey, AuditEntry, Role
from voltline_auth.service_layer.context import AuthContext, audit, publish
from voltline_auth.service_layer.unit_of_work import AuthUnitOfWork


class KeyNotFound(Exception):
    pass


def _published(ctx: AuthContext, uow: AuthUnitOfWork, key: ApiKey) -> None:
    event = ApiKeyRegistered(
        key_id=key.key_id,
        name=key.name,
        role=key.role,
        key_hash=key.key_hash,
        expires_at=key.expires_at,
        revoked=key.revoked_at is not None,
    )
    if ctx.api_key_signing is not None:
        event = sign_record(event, ctx.api_key_signing, ctx.clock())
    publish(ctx, uow, ctx.topics.api_keys, event, key.key_id, station=False)


async def create_key(
    ctx: AuthContext, *, name: str, role: Role, expires_at: datetime | None, actor: str
) -> tuple[ApiKey, str]:
    """A new key; the secret is returned here once and never stored."""
    secret = new_api_key()
    key = ApiKey(secrets.token_hex(8), name, role, hash_api_key(secret), ctx.clock(), actor, expires_at)
    async with ctx.uow() as uow:
        await uow.api_keys.add(key)
        _published(ctx, uow, key)
        await audit(ctx, uow, actor, "api_key.created", "api_key", key.key_id, name=name, role=role)
        await uow.commit()
    return key, secret


async def get_key(ctx: AuthContext, key_id: str) -> ApiKey:
    async with ctx.uow() as uow:
        key = await uow.api_keys.get(key_id)
    if key is None:
        raise KeyNotFound(key_id)
    return key


async def list_keys(ctx: AuthContext, *, role: str | None, limit: int, offset: int) -> list[ApiKey]:
    async with ctx.uow() as uow:
        return await uow.api_keys.list(role=role, limit=limit, offset=offset)


async def revoke_key(ctx: AuthContext, key_id: str, *, actor: str) -> ApiKey:
    async with ctx.uow() as uow:
        key = await uow.api_keys.get(key_id)
        if key is None:
            raise KeyNotFound(key_id)
        if key.revoked_at is None:
            revoked_at = ctx.clock()
            key = replace(key, revoked_at=revoked_at)
            await uow.api_keys.revoke(key_id, revoked_at)
            _published(ctx, uow, key)
            await audit(ctx, uow, actor, "api_key.revoked", "api_key", key_id, name=key.name)
        await uow.commit()
    return key


async def lookup_key(ctx: AuthContext, key_hash: str) -> ApiKeyRecord | None:
    """For the auth service's own verifier: straight from the database, so a revocation counts at once."""
    async with ctx.uow() as uow:
        key = await uow.api_keys.by_hash(key_hash)
    if key is None:
        return None
    return ApiKeyRecord(key.key_id, key.name, key.role, key.key_hash, key.expires_at, key.revoked_at is not None)


async def republish_keys(ctx: AuthContext, batch: int = 500) -> int:
    """Every key on the bus again (the embedded broker forgets topics on restart)."""
    count, offset = 0, 0
    while True:
        async with ctx.uow() as uow:
            page = await uow.api_keys.list(limit=batch, offset=offset)
            for key in page:
                _published(ctx, uow, key)
            await uow.commit()
        count += len(page)
        offset += batch
        if len(page) < batch:
            return count


async def list_audit(ctx: AuthContext, **filters: object) -> list[AuditEntry]:
    async with ctx.uow() as uow:
        return await uow.audit.list(**filters)  # type: ignore[arg-type]  # the route passes the filters by name


async def list_decisions(ctx: AuthContext, **filters: object) -> list[dict[str, object]]:
    async with ctx.uow() as uow:
        return await uow.decisions.list(**filters)  # type: ignore[arg-type]  # the route passes the filters by name

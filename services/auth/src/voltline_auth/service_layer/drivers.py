"""Drivers: registering them, changing their details, and issuing app tokens to them."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import replace
from typing import Any

from voltline_auth.domain.tokens import Driver, IdToken, InvalidToken
from voltline_auth.service_layer.context import AuthContext, audit
from voltline_auth.service_layer.tokens import propagate

_CHANGEABLE = frozenset({"name", "email", "phone", "language", "max_concurrent_sessions"})


class DriverExists(Exception):
    """Another driver already registered this e-mail address."""


class DriverNotFound(Exception):
    pass


async def create_driver(
    ctx: AuthContext,
    *,
    name: str,
    email: str,
    phone: str | None = None,
    language: str | None = None,
    max_concurrent_sessions: int | None = None,
    actor: str,
) -> Driver:
    now = ctx.clock()
    driver = Driver(str(uuid.uuid4()), name, email.lower(), phone, language, max_concurrent_sessions, now, now)
    async with ctx.uow() as uow:
        if await uow.drivers.get_by_email(driver.email) is not None:
            raise DriverExists(driver.email)
        await uow.drivers.add(driver)
        # Contact details are personal data: the audit names which fields were set, not their values.
        await audit(
            ctx, uow, actor, "driver.created", "driver", driver.driver_id,
            fields=sorted(k for k in ("name", "email", "phone", "language") if getattr(driver, k) is not None),
            max_concurrent_sessions=max_concurrent_sessions,
        )  # fmt: skip
        await uow.commit()
    return driver


async def get_driver(ctx: AuthContext, driver_id: str) -> Driver:
    async with ctx.uow() as uow:
        driver = await uow.drivers.get(driver_id)
    if driver is None:
        raise DriverNotFound(driver_id)
    return driver


async def list_drivers(ctx: AuthContext, *, q: str | None, limit: int, offset: int) -> list[Driver]:
    async with ctx.uow() as uow:
        return await uow.drivers.search(q=q, limit=limit, offset=offset)


async def update_driver(ctx: AuthContext, driver_id: str, changes: dict[str, Any], *, actor: str) -> Driver:
    unknown = set(changes) - _CHANGEABLE
    if unknown:
        raise InvalidToken(sorted(unknown)[0], "this field cannot be changed")
    for required in ("name", "email"):
        if required in changes and not changes[required]:
            raise InvalidToken(required, f"{required} cannot be cleared")
    if changes.get("email"):
        changes = {**changes, "email": changes["email"].lower()}
    async with ctx.uow() as uow:
        driver = await uow.drivers.get(driver_id)
        if driver is None:
            raise DriverNotFound(driver_id)
        if "email" in changes and changes["email"] != driver.email:
            if await uow.drivers.get_by_email(changes["email"]) is not None:
                raise DriverExists(changes["email"])
        updated = replace(driver, updated_at=ctx.clock(), **changes)
        await uow.drivers.save(updated)
        if updated.language != driver.language:  # 2.x local list entries carry the driver's language
            for token in await uow.tokens.of_driver(driver_id):
                await propagate(ctx, uow, token, token)
        await audit(
            ctx, uow, actor, "driver.updated", "driver", driver_id,
            fields=sorted(changes), max_concurrent_sessions=changes.get("max_concurrent_sessions"),
        )  # fmt: skip
        await uow.commit()
    ctx.tokens.invalidate()
    await ctx.decisions_published()
    ctx.kick()
    return updated


async def issue_app_token(ctx: AuthContext, driver_id: str, *, actor: str) -> IdToken:
    """A Central token for the driver's mobile app; 19 characters so 1.6 stations can carry it too."""
    now = ctx.clock()
    token = IdToken(f"APP{secrets.token_hex(8).upper()}", "Central", "Accepted", driver_id, None, None, now, now)
    async with ctx.uow() as uow:
        if await uow.drivers.get(driver_id) is None:
            raise DriverNotFound(driver_id)
        await uow.tokens.add(token)
        await audit(ctx, uow, actor, "id_token.issued", "id_token", token.id_token, type="Central", driver_id=driver_id)
        await uow.commit()
    ctx.tokens.invalidate(token.key)
    return token

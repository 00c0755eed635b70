"""Local authorisation lists: their contents and versions. Getting them onto stations is sync.py's job."""

from __future__ import annotations

from voltline_auth.domain.local_lists import LocalList
from voltline_auth.domain.tokens import IdToken
from voltline_auth.service_layer.context import AuthContext, audit
from voltline_auth.service_layer.tokens import resolve_token
from voltline_auth.service_layer.unit_of_work import AuthUnitOfWork


class ListExists(Exception):
    pass


class ListNotFound(Exception):
    pass


class ListInUse(Exception):
    """Stations are still assigned to the list."""

    def __init__(self, stations: list[str]) -> None:
        super().__init__(", ".join(stations))
        self.stations = stations


async def _get(uow: AuthUnitOfWork, list_id: str) -> LocalList:
    found = await uow.lists.get(list_id)
    if found is None:
        raise ListNotFound(list_id)
    return found


async def create_list(ctx: AuthContext, list_id: str, *, description: str | None, actor: str) -> LocalList:
    now = ctx.clock()
    local_list = LocalList(list_id, description, 1, now, now)  # version 0 means "no list" on a station
    async with ctx.uow() as uow:
        if await uow.lists.get(list_id) is not None:
            raise ListExists(list_id)
        await uow.lists.add(local_list)
        await audit(ctx, uow, actor, "local_list.created", "local_list", list_id, description=description)
        await uow.commit()
    return local_list


async def get_list(ctx: AuthContext, list_id: str) -> tuple[LocalList, int, list[str]]:
    """The list, how many tokens it holds, and the stations assigned to it."""
    async with ctx.uow() as uow:
        local_list = await _get(uow, list_id)
        return local_list, await uow.lists.size(list_id), sorted(await uow.sync.stations_on_lists([list_id]))


async def list_lists(ctx: AuthContext, *, limit: int, offset: int) -> list[LocalList]:
    async with ctx.uow() as uow:
        return await uow.lists.list(limit=limit, offset=offset)


async def delete_list(ctx: AuthContext, list_id: str, *, actor: str) -> None:
    async with ctx.uow() as uow:
        await _get(uow, list_id)
        stations = await uow.sync.stations_on_lists([list_id])
        if stations:
            raise ListInUse(sorted(stations))
        await uow.lists.delete(list_id)
        await audit(ctx, uow, actor, "local_list.deleted", "local_list", list_id)
        await uow.commit()


async def _change_membership(
    ctx: AuthContext, list_id: str, id_token: str, token_type: str | None, *, add: bool, actor: str
) -> tuple[LocalList, IdToken]:
    async with ctx.uow() as uow:
        local_list = await _get(uow, list_id)
        token = await resolve_token(uow, id_token, token_type)
        key = (token.key, token.type)
        changed = await (uow.lists.add_entry(list_id, key) if add else uow.lists.remove_entry(list_id, key))
        if changed:
            version = await uow.lists.bump(list_id, ctx.clock())
            await uow.lists.record_change(list_id, version, key, token.id_token)
            await uow.sync.bump(await uow.sync.stations_on_lists([list_id]))
            action = "local_list.entry_added" if add else "local_list.entry_removed"
            await audit(ctx, uow, actor, action, "local_list", list_id, id_token=token.id_token, type=token.type)
            local_list = await _get(uow, list_id)
        await uow.commit()
    ctx.kick()
    return local_list, token


async def add_entry(
    ctx: AuthContext, list_id: str, id_token: str, token_type: str | None, *, actor: str
) -> tuple[LocalList, IdToken]:
    return await _change_membership(ctx, list_id, id_token, token_type, add=True, actor=actor)


async def remove_entry(
    ctx: AuthContext, list_id: str, id_token: str, token_type: str | None, *, actor: str
) -> tuple[LocalList, IdToken]:
    return await _change_membership(ctx, list_id, id_token, token_type, add=False, actor=actor)


async def list_entries(ctx: AuthContext, list_id: str, *, limit: int, offset: int) -> list[IdToken]:
    async with ctx.uow() as uow:
        await _get(uow, list_id)
        keys = await uow.lists.entries(list_id, limit=limit, offset=offset)
        views = await uow.tokens.views(keys)
    return [views[key].token for key in keys if key in views]

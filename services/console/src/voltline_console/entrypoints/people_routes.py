"""Drivers and id tokens (search, block a lost card), local lists, and the admin pages (API keys, audit log)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse

from voltline_console.domain.login import LoginSession
from voltline_console.entrypoints.rendering import HTML, Forbidden, checked_form, current_user, render
from voltline_console.service_layer import more_views
from voltline_console.service_layer.ports import ServiceApi

User = Annotated[LoginSession, Depends(current_user)]
TokenId = Annotated[str, Path(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9._:\-]+$")]
ListId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]
KeyId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]
ROLES = ("viewer", "operator", "admin")


def _api(request: Request) -> ServiceApi:
    api: ServiceApi = request.app.state.api
    return api


def _admin(user: LoginSession) -> None:
    if not user.can.admin:
        raise Forbidden()


def build_people_router() -> APIRouter:
    router = APIRouter(tags=["console"], default_response_class=HTMLResponse)

    @router.get("/drivers", responses=HTML)
    async def drivers(request: Request, user: User, q: str = "", card: str = "", driver_id: str = "") -> HTMLResponse:
        """Drivers by e-mail or name, id tokens by the start of their id (or a driver's tokens)."""
        api = _api(request)
        found = await more_views.listing(api, user.token, "auth", "/drivers", q=q.strip())
        tokens = await more_views.listing(
            api, user.token, "auth", "/id-tokens", prefix=card.strip(), driver_id=driver_id.strip()
        )
        ctx = {
            "user": user,
            "nav": "drivers",
            "drivers": found,
            "tokens": tokens,
            "q": q,
            "card": card,
            "driver_id": driver_id,
        }
        return render(request, "drivers.html", ctx)

    @router.post("/id-tokens/{id_token}/block", responses=HTML)
    async def block(request: Request, user: User, id_token: TokenId) -> HTMLResponse:
        """Block a lost card: auth also takes it off local lists and clears stations' caches."""
        form = await checked_form(request, user)
        params = {"type": form["type"]} if form.get("type") else None
        answer = await more_views.send(
            _api(request), user.token, "auth", "PATCH", f"/id-tokens/{id_token}", {"status": "Blocked"}, params
        )
        t: dict[str, Any] = answer.body if answer.ok else {"id_token": id_token, "type": form.get("type")}
        return render(
            request, "_token_status.html", {"user": user, "t": t, "answer": answer}, page="drivers_action.html"
        )

    @router.get("/local-lists", responses=HTML)
    async def local_lists(request: Request, user: User, list_id: str = "") -> HTMLResponse:
        api = _api(request)
        lists = await more_views.listing(api, user.token, "auth", "/local-lists")
        entries = (
            await more_views.listing(api, user.token, "auth", f"/local-lists/{list_id}/entries") if list_id else None
        )
        ctx = {
            "user": user,
            "nav": "drivers",
            "lists": lists,
            "entries": entries,
            "list_id": list_id,
            "values": {},
            "errors": {},
        }
        return render(request, "local_lists.html", ctx)

    @router.post("/local-lists/{list_id}/entries", responses=HTML)
    async def change_entry(request: Request, user: User, list_id: ListId) -> HTMLResponse:
        """Put a registered card on the list (`id_token`) or take one off (`remove`); stations get the change with
        their next differential update."""
        form = await checked_form(request, user)
        removing = form.get("remove", "").strip()
        card = removing or form.get("id_token", "").strip()
        api = _api(request)
        answer = None
        errors: dict[str, str] = {}
        if not card:
            errors["id_token"] = "required"
        else:
            params = {"type": form["type"]} if form.get("type") else None
            method = "DELETE" if removing else "PUT"
            answer = await more_views.send(
                api, user.token, "auth", method, f"/local-lists/{list_id}/entries/{card}", params=params
            )
            if not answer.ok:
                errors = answer.field_errors() or {"id_token": answer.detail}
        lists = await more_views.listing(api, user.token, "auth", "/local-lists")
        entries = await more_views.listing(api, user.token, "auth", f"/local-lists/{list_id}/entries")
        ctx = {
            "user": user,
            "nav": "drivers",
            "lists": lists,
            "entries": entries,
            "list_id": list_id,
            "values": {} if answer is not None and answer.ok else {"id_token": card},
            "errors": errors,
            "changed": (("removed" if removing else "added"), card) if answer is not None and answer.ok else None,
        }
        status = 200 if not errors else (answer.status if answer is not None and answer.status >= 400 else 422)
        return render(request, "local_lists.html", ctx, status=status)

    @router.get("/admin/api-keys", responses=HTML)
    async def api_keys(request: Request, user: User) -> HTMLResponse:
        _admin(user)
        keys = await more_views.listing(_api(request), user.token, "auth", "/api-keys")
        ctx = {"user": user, "nav": "admin", "keys": keys, "values": {"role": "viewer"}, "errors": {}, "roles": ROLES}
        return render(request, "api_keys.html", ctx)

    @router.post("/admin/api-keys", responses=HTML)
    async def create_key(request: Request, user: User) -> HTMLResponse:
        """Issue a key; its secret is shown on this answer only (auth never shows it again)."""
        _admin(user)
        form = await checked_form(request, user)
        values = {"name": form.get("name", "").strip(), "role": form.get("role", "")}
        answer = await more_views.send(_api(request), user.token, "auth", "POST", "/api-keys", values)
        keys = await more_views.listing(_api(request), user.token, "auth", "/api-keys")
        ctx: dict[str, Any] = {
            "user": user,
            "nav": "admin",
            "keys": keys,
            "values": values,
            "errors": {},
            "roles": ROLES,
        }
        if answer.ok:
            return render(
                request, "api_keys.html", {**ctx, "issued": answer.body, "values": {"role": "viewer"}}, status=201
            )
        ctx.update(errors=answer.field_errors(), problem_detail=answer.detail)
        return render(request, "api_keys.html", ctx, status=answer.status if answer.status >= 400 else 502)

    @router.post("/admin/api-keys/{key_id}/revoke", responses=HTML)
    async def revoke_key(request: Request, user: User, key_id: KeyId) -> HTMLResponse:
        _admin(user)
        form = await checked_form(request, user)
        keys_ctx: dict[str, Any] = {
            "user": user,
            "nav": "admin",
            "values": {"role": "viewer"},
            "errors": {},
            "roles": ROLES,
        }
        if form.get("confirm") != "yes":
            keys = await more_views.listing(_api(request), user.token, "auth", "/api-keys")
            return render(request, "api_keys.html", {**keys_ctx, "keys": keys, "confirm_revoke": key_id})
        answer = await more_views.send(_api(request), user.token, "auth", "DELETE", f"/api-keys/{key_id}")
        keys = await more_views.listing(_api(request), user.token, "auth", "/api-keys")
        extra = {"revoked": key_id} if answer.ok else {"problem_detail": answer.detail}
        return render(request, "api_keys.html", {**keys_ctx, "keys": keys, **extra})

    @router.get("/admin/audit", responses=HTML)
    async def audit(request: Request, user: User, actor: str = "", action: str = "") -> HTMLResponse:
        _admin(user)
        panel = await more_views.listing(
            _api(request), user.token, "auth", "/audit", actor=actor.strip(), action=action.strip()
        )
        columns = [
            ("When", "at", "when"),
            ("Actor", "actor", None),
            ("Action", "action", None),
            ("Target", "target_type", None),
            ("Id", "target_id", None),
            ("Details", "details", "json"),
        ]
        ctx = {
            "user": user,
            "nav": "admin",
            "title": "Audit log",
            "panel": panel,
            "columns": columns,
            "list_name": "audit",
            "action_url": "/admin/audit",
            "query": dict(request.query_params),
            "filters": [("actor", "Actor", ()), ("action", "Action", ())],
        }
        return render(request, "list_page.html", ctx)

    return router

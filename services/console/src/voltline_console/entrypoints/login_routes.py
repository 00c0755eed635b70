"""Login and logout pages."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from voltline_console.domain.login import LoginSession
from voltline_console.entrypoints.rendering import (
    COOKIE,
    HTML,
    LOGIN_COOKIE,
    SECURITY_HEADERS,
    checked_form,
    current_user,
    redirect,
    render,
    safe_next,
    set_session_cookie,
)
from voltline_console.service_layer.login import InvalidKey, LoginService

SEE_OTHER: dict[int | str, Any] = {303: {"description": "To the page asked for, or to the login page"}}


def _login_page(request: Request, next_path: str, *, error: str | None = None, status: int = 200) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(
        request, "login.html", {"login_csrf": token, "next": next_path, "error": error, "user": None}, status=status
    )
    secure = request.app.state.settings.console_secure_cookie
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/login")
    return response


def build_login_router() -> APIRouter:
    router = APIRouter(tags=["console"])

    @router.get("/login", response_class=HTMLResponse, responses=HTML)
    async def login_form(request: Request, next: str = "/") -> HTMLResponse:
        return _login_page(request, safe_next(next))

    @router.post("/login", response_class=HTMLResponse, responses={**HTML, **SEE_OTHER})
    async def login(request: Request) -> Response:
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        next_path = safe_next(fields.get("next"))
        expected = request.cookies.get(LOGIN_COOKIE) or ""
        given = fields.get("csrf_token") or ""
        if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
            return _login_page(request, next_path, error="The form expired; please try again.", status=400)
        logins: LoginService = request.app.state.logins
        try:
            session = await logins.login(fields.get("token", ""))
        except InvalidKey as exc:
            return _login_page(request, next_path, error=str(exc), status=401)
        response = redirect(request, next_path)
        set_session_cookie(response, session, request.app.state.settings.console_secure_cookie)
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @router.post("/logout", response_class=HTMLResponse, responses={**HTML, **SEE_OTHER})
    async def logout(request: Request, user: Annotated[LoginSession, Depends(current_user)]) -> Response:
        await checked_form(request, user, write=False)
        logins: LoginService = request.app.state.logins
        await logins.logout(user.session_id)
        response = redirect(request, "/login")
        response.delete_cookie(COOKIE, path="/")
        response.headers.update(SECURITY_HEADERS)
        return response

    return router

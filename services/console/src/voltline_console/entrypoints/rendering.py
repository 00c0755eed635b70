"""Templates, the session cookie and the checks every page and form shares (login, role, CSRF)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from voltline_chassis.schemas import media

from voltline_console.domain.login import LoginSession
from voltline_console.service_layer.login import LoginService

PACKAGE = Path(__file__).resolve().parents[1]
templates = Jinja2Templates(directory=PACKAGE / "templates")
COOKIE = "voltline_console"
LOGIN_COOKIE = "voltline_console_login"  # the login form's CSRF token, before there is a session
HTML = media("text/html", "A page (or, for htmx, a part of one)")
# No inline script or style anywhere: the page may run only the console's own (vendored) files. Images: the
# console's own, and the map's tiles (OpenStreetMap's; the map page says so when they cannot be loaded).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https://tile.openstreetmap.org; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class LoginRequired(Exception):
    """No valid session: go to the login page (htmx follows HX-Redirect instead of swapping a login form in)."""

    def __init__(self, next_path: str = "/") -> None:
        self.next_path = next_path


class Forbidden(Exception):
    """A form the user's role may not send (its button is not shown, but a request can be made by hand)."""


class BadCsrf(Exception):
    """A form without the CSRF token of the page it came from."""


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def safe_next(value: str | None) -> str:
    """Only a path of this site (no `//host`, no scheme): a login link must not send users elsewhere."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def render(
    request: Request, template: str, context: dict[str, Any], *, status: int = 200, page: str | None = None
) -> HTMLResponse:
    """`template` alone for htmx (a fragment), else inside `page` (a whole page) when one is given."""
    name = page if page is not None and not is_htmx(request) else template
    ctx = {"request": request, "fragment": template, "poll_s": request.app.state.settings.console_poll_s, **context}
    response = templates.TemplateResponse(request, name, ctx, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def redirect(request: Request, to: str) -> Response:
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": to, **SECURITY_HEADERS})
    return RedirectResponse(to, status_code=303, headers=SECURITY_HEADERS)


def login_redirect(request: Request, next_path: str) -> Response:
    target = "/login" if next_path in ("", "/") else f"/login?next={quote(next_path, safe='/')}"
    response = redirect(request, target)
    response.delete_cookie(COOKIE, path="/")
    return response


async def current_user(request: Request) -> LoginSession:
    """The dependency of every page: the logged-in session, else LoginRequired."""
    logins: LoginService = request.app.state.logins
    session = await logins.current(request.cookies.get(COOKIE))
    if session is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path if request.method == "GET" and not is_htmx(request) else "/")
    return session


async def checked_form(request: Request, user: LoginSession, *, write: bool = True) -> dict[str, str]:
    """The form's fields once its CSRF token matched (field `csrf_token` or htmx's X-CSRF-Token header)."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if not user.csrf_matches(fields.get("csrf_token") or request.headers.get("X-CSRF-Token")):
        raise BadCsrf()
    if write and not user.can.write:
        raise Forbidden()
    return fields


def set_session_cookie(response: Response, session: LoginSession, secure: bool) -> None:
    """httpOnly (no script reads it), SameSite=Strict (no other site's page sends it), for the whole console."""
    response.set_cookie(COOKIE, session.session_id, httponly=True, samesite="strict", secure=secure, path="/")

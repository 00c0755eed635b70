"""RFC 9457 ``application/problem+json`` errors.

Every error a client can see has the same shape, so clients (and the dashboard) need exactly one
error parser, and validation failures say which field to fix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from voltline_chassis.logging import get_logger

PROBLEM_MEDIA_TYPE = "application/problem+json"
_RESERVED = frozenset({"type", "title", "status", "detail", "instance"})

log = get_logger(__name__)


class ProblemDetails(BaseModel):
    """OpenAPI schema of a problem body; extension members are allowed."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class Problem(Exception):
    """Raise from handlers/dependencies to answer with a problem+json body.

    ``extra`` carries RFC 9457 extension members (e.g. ``{"station_id": "CP-1"}``); use a URI ``type``
    when clients are expected to branch on the kind of problem.
    """

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        title: str | None = None,
        type: str = "about:blank",
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        clash = _RESERVED & set(extra or {})
        if clash:
            raise ValueError(f"extension members may not reuse standard names: {sorted(clash)}")
        self.status = status
        self.title = title or _phrase(status)
        self.detail = detail
        self.type = type
        self.extra: dict[str, Any] = dict(extra or {})
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(f"{status} {self.title}: {detail}" if detail else f"{status} {self.title}")

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail is not None:
            body["detail"] = self.detail
        if instance is not None:
            body["instance"] = instance
        body.update(self.extra)
        return body

    def to_response(self, instance: str | None = None) -> ProblemResponse:
        return ProblemResponse(self.to_dict(instance), status_code=self.status, headers=self.headers or None)


def _default_detail(request: Request, status: int, headers: Mapping[str, str]) -> str | None:
    """Replace Starlette's bare status phrases with something a person can act on."""
    if status == 404 and request.scope.get("route") is None:
        return f"No endpoint matches {request.method} {request.url.path}."
    if status == 405:
        allowed = headers.get("Allow") or headers.get("allow")
        suffix = f"; allowed: {allowed}" if allowed else ""
        return f"{request.method} is not allowed on {request.url.path}{suffix}."
    return None


async def _problem_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return exc.to_response(request.url.path)


async def _http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    extra: dict[str, Any] = {}
    if isinstance(exc.detail, str) and exc.detail != _phrase(exc.status_code):
        detail: str | None = exc.detail
    else:
        detail = _default_detail(request, exc.status_code, headers)
        if exc.detail is not None and not isinstance(exc.detail, str):
            extra["data"] = exc.detail
    problem = Problem(exc.status_code, detail, extra=extra, headers=headers)
    return problem.to_response(request.url.path)


def _field_path(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc) or "request"


def validation_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Flatten pydantic errors into ``{"field": "body.x", "message", "type"}`` without echoing input."""
    items: list[dict[str, str]] = []
    for err in errors:
        loc = tuple(err.get("loc", ()))
        kind = str(err.get("type", "invalid"))
        if kind == "json_invalid":
            reason = (err.get("ctx") or {}).get("error", "malformed JSON")
            position = loc[1] if len(loc) > 1 else "?"
            items.append(
                {
                    "field": "body",
                    "message": f"Request body is not valid JSON ({reason} at character {position}).",
                    "type": kind,
                }
            )
            continue
        items.append({"field": _field_path(loc), "message": str(err.get("msg", "Invalid value")), "type": kind})
    return items


async def _validation_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    items = validation_errors(exc.errors())
    listed = "; ".join(f"{item['field']}: {item['message']}" for item in items)
    noun = "field" if len(items) == 1 else "fields"
    detail = f"The request has {len(items)} invalid {noun}. Fix and retry: {listed}"
    problem = Problem(422, detail, extra={"errors": items})
    return problem.to_response(request.url.path)


def internal_error_response(path: str, request_id: str | None) -> ProblemResponse:
    """The only body a client sees for a bug: no exception text, no stack trace."""
    ref = f" Quote request id {request_id} when reporting it." if request_id else ""
    problem = Problem(500, f"An unexpected error occurred.{ref}")
    return problem.to_response(path)


async def _unhandled_handler(request: Request, exc: Exception) -> Response:
    # Reached only when the chassis request middleware is absent (install_problem_handlers alone).
    log.error("unhandled_exception", method=request.method, path=request.url.path, exc_info=exc)
    return internal_error_response(request.url.path, request.headers.get("x-request-id"))


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error path (incl. unknown routes and validation) through problem+json."""
    app.add_exception_handler(Problem, _problem_handler)
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(Exception, _unhandled_handler)


# Turns one kind of domain error into the problem a client sees; gets the request for path parameters.
ProblemFactory = Callable[[Request, Any], Problem]


def install_problem_mapping(app: FastAPI, mapping: Mapping[type[Exception], ProblemFactory]) -> None:
    """Map a service's domain errors to problems once, in its app factory, instead of per-route try/except.

    The answer is exactly what raising the factory's ``Problem`` in the route would give.
    """
    for exc_type, factory in mapping.items():
        app.add_exception_handler(exc_type, _mapped(factory))


def _mapped(factory: ProblemFactory) -> Callable[[Request, Exception], Any]:
    async def handler(request: Request, exc: Exception) -> Response:
        return factory(request, exc).to_response(request.url.path)

    return handler


def _schema_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": ProblemDetails.model_json_schema()}}}


# Attach to routers so OpenAPI documents the real error format instead of FastAPI's HTTPValidationError.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    "401": _schema_response("Missing or invalid bearer token"),
    "403": _schema_response("Token lacks the required role"),
    "422": _schema_response("Request validation failed"),
}

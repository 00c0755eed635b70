"""Per-request observability: request id, context binding, one log line, HTTP metrics.

Written as plain ASGI (not ``BaseHTTPMiddleware``) so context bound here is visible to handlers, and
so it can turn an unhandled exception into a 500 problem itself: that logs the error exactly once
and keeps the exception from reaching uvicorn (which would log it a second time, as plain text).
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.datastructures import MutableHeaders
from starlette.routing import BaseRoute, Match, replace_params
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voltline_chassis.logging import get_logger
from voltline_chassis.metrics import observe_http_request
from voltline_chassis.problems import internal_error_response
from voltline_chassis.security import Principal

REQUEST_ID_HEADER = "x-request-id"
# Accept a caller's id only if it cannot inject anything into logs or headers.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Probe and scrape traffic is logged at debug so it does not drown real requests.
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
UNMATCHED_ROUTE = "<unmatched>"

log = get_logger("voltline.http")


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER.encode():
            candidate: str = value.decode("latin-1")
            if _SAFE_REQUEST_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex


def _top_level_route(scope: Scope) -> BaseRoute | None:
    # Plain Starlette routes (/docs, /metrics) are not recorded in scope["route"].
    app = scope.get("app")
    for route in getattr(app, "routes", ()):
        if (
            isinstance(route, BaseRoute)
            and getattr(route, "path_format", None)
            and route.matches(scope)[0] is Match.FULL
        ):
            return route
    return None


def route_template(scope: Scope) -> str:
    """Full path template (``/api/v1/stations/{station_id}``) of the route that handled ``scope``.

    FastAPI records only the innermost route, whose path lacks the ``include_router`` prefixes, so
    the prefix is recovered from the concrete path; parent path parameters are folded back to
    ``{name}`` so the label stays low-cardinality.
    """
    route = scope.get("route") or (_top_level_route(scope) if "endpoint" in scope else None)
    path_format: str | None = getattr(route, "path_format", None)
    if not path_format:
        return UNMATCHED_ROUTE
    params: dict[str, Any] = dict(scope.get("path_params", {}))
    convertors: dict[str, Any] = getattr(route, "param_convertors", {})
    try:
        concrete, _ = replace_params(path_format, convertors, dict(params))
    except Exception:
        return path_format
    path: str = scope.get("path", "")
    if not path.endswith(concrete):
        return path_format
    parent_params = {str(value): name for name, value in params.items() if name not in convertors}
    prefix = "/".join(
        f"{{{parent_params[segment]}}}" if segment in parent_params else segment
        for segment in path[: len(path) - len(concrete)].split("/")
    )
    return prefix + path_format


class RequestObservabilityMiddleware:
    """Binds ``request_id``/``service`` for the request and records how it ended."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self._refusals = _LineBudget(per_second=20.0, burst=100.0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = _request_id(scope)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        # Restore the caller's context afterwards: handlers may bind_context() without a `with`.
        outer_context = structlog.contextvars.get_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id, service=self.service)
        try:
            try:
                await self.app(scope, receive, send_wrapper)
            except Exception:
                log.exception("unhandled_exception", method=scope["method"], path=scope["path"])
                if response_started:
                    raise  # Too late for a problem body; let the server drop the connection.
                await internal_error_response(scope["path"], request_id)(scope, receive, send_wrapper)
            self._record(scope, status, time.perf_counter() - started)
        finally:
            structlog.contextvars.clear_contextvars()
            structlog.contextvars.bind_contextvars(**outer_context)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = route_template(scope)
        observe_http_request(self.service, scope["method"], route, status, seconds)
        principal = scope.get("state", {}).get("principal")
        fields: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
        }
        if isinstance(principal, Principal):
            fields["principal"] = principal.subject
        client = scope.get("client")
        if client:
            fields["client"] = client[0]
        if status >= 500:
            log.error("http_request", **fields)
        elif scope["path"] in _QUIET_PATHS:
            log.debug("http_request", **fields)
        elif 400 <= status < 500:
            # Refused requests are what a flood is made of: counted in the metric, logged at a bounded rate.
            left_out = self._refusals.take()
            if left_out is not None:
                log.info("http_request", **fields, **({"not_logged_before": left_out} if left_out else {}))
        else:
            log.info("http_request", **fields)


class _LineBudget:
    """At most `per_second` lines a second (bursts of `burst`); `take` says how many were left out since."""

    def __init__(self, *, per_second: float, burst: float) -> None:
        self._rate, self._burst = per_second, burst
        self._tokens, self._last = burst, time.monotonic()
        self._left_out = 0

    def take(self) -> int | None:
        """None: leave this line out; else the number left out before it."""
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1:
            self._left_out += 1
            return None
        self._tokens -= 1
        left_out, self._left_out = self._left_out, 0
        return left_out

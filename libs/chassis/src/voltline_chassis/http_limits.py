"""Limits on what an HTTP client may hold or send: read timeouts, body size, connections.

uvicorn (0.54) times out only idle keep-alive connections: a client that sends its headers a byte at a
time, or never finishes them, held a connection forever (300 were still open after 60 s). The protocol
here gives every request `request_timeout` seconds from its first byte (or from the connection) until its
headers and body are in, then hangs up. Bodies larger than `max_body_bytes` get 413 without being read.
Streaming paths (setting `http_streaming_paths`: station log uploads, firmware files) are exempt from both once
their headers are in: those routes stream to disk and enforce their own size limits.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from voltline_chassis.logging import get_logger
from voltline_chassis.problems import Problem

log = get_logger(__name__)


def streaming(path: str, prefixes: tuple[str, ...]) -> bool:
    return bool(prefixes) and path.startswith(prefixes)


def guarded_protocol(request_timeout: float, streaming_paths: tuple[str, ...] = ()) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol, with a deadline for reading each request (headers, and body unless streaming)."""

    class GuardedH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn's own
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def handle_events(self) -> None:
            super().handle_events()
            if self.conn.their_state is h11.DONE or self.conn.their_state is h11.MUST_CLOSE:
                self._disarm()  # the whole request is in: the application's time now
            elif self.conn.their_state is h11.SEND_BODY and streaming(self.scope["path"], streaming_paths):
                self._disarm()  # headers are in; a streaming route reads its body at its own pace

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()  # the next request on this connection gets its own deadline

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(request_timeout, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if self.transport.is_closing() or self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
                return
            log.info("http request not received in time; closing", client=self.client and self.client[0])
            self.transport.close()

    return GuardedH11Protocol


class BodyLimitMiddleware:
    """413 for a body over `max_bytes`: by Content-Length before reading, or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int, streaming_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.streaming_paths = streaming_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or streaming(scope["path"], self.streaming_paths):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._refuse(scope, receive, send)
                    return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooBig(413, self._detail())
            return message

        try:
            await self.app(scope, limited, send)
        except _TooBig:
            await self._refuse(scope, receive, send)

    def _detail(self) -> str:
        return f"The request body is larger than {self.max_bytes} bytes."

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = Problem(413, self._detail(), extra={"max_bytes": self.max_bytes})
        response: Any = problem.to_response(scope.get("path"))
        await response(scope, receive, send)


class _TooBig(HTTPException):
    """An HTTPException, which FastAPI passes through (any other error reading a body becomes a 400)."""

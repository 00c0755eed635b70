"""The services' adapter: a stream passes the service's bytes through; a refused or unreachable one just ends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from voltline_console.adapters.backend import HttpServiceApi

EVENT = b'event: diagnostics.alert_opened\ndata: {"station_id": "CP-1"}\n\n'


def handler(request: httpx.Request) -> httpx.Response:
    if request.headers["authorization"] != "Bearer vk_viewer":
        return httpx.Response(401, json={"detail": "Invalid token."})
    assert request.url.path == "/api/v1/stream" and request.url.params["station_id"] == "CP-1"
    return httpx.Response(200, content=chunks(), headers={"content-type": "text/event-stream"})


async def chunks() -> AsyncIterator[bytes]:
    yield EVENT[:10]
    yield EVENT[10:]


async def test_a_stream_is_passed_through_with_the_users_key() -> None:
    api = HttpServiceApi({"diagnostics": "http://diagnostics.test"}, 5.0, transport=httpx.MockTransport(handler))
    try:
        got = [c async for c in api.stream("diagnostics", "/stream", "vk_viewer", params={"station_id": "CP-1"})]
        assert b"".join(got) == EVENT
        assert [c async for c in api.stream("diagnostics", "/stream", "revoked", params={"station_id": "CP-1"})] == []
    finally:
        await api.close()


async def test_an_unreachable_service_ends_the_stream() -> None:
    api = HttpServiceApi({"diagnostics": "http://127.0.0.1:1"}, 1.0)
    try:
        assert [c async for c in api.stream("diagnostics", "/stream", "vk_viewer")] == []
    finally:
        await api.close()

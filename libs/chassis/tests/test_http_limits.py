"""Slow or huge requests cannot hold a service: a real uvicorn server, real sockets."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Request
from pydantic import SecretStr
from voltline_chassis import create_app, make_server
from voltline_chassis.security import StaticTokenVerifier

router = APIRouter()


@router.post("/echo")
async def echo(body: dict[str, Any]) -> dict[str, int]:
    return {"keys": len(body)}


@router.put("/stream/upload")
async def upload(request: Request) -> dict[str, int]:
    """A streaming route (as station log uploads are): it reads its body at its own pace and limits it itself."""
    return {"bytes": len(await request.body())}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def server(helpers: Any) -> AsyncIterator[int]:
    port = _free_port()
    settings = helpers.make_settings(
        http_port=port,
        http_request_timeout_s=0.5,
        http_max_body_bytes=4096,
        http_max_connections=20,
        http_streaming_paths=["/api/v1/stream/"],
    )
    app = create_app(
        settings=settings,
        title="t",
        version="0",
        verifier=StaticTokenVerifier(SecretStr(helpers.ADMIN)),
        readiness_checks={},
        routers=[router],
    )
    uvicorn_server = make_server(app, settings)
    task = asyncio.create_task(uvicorn_server.serve())
    for _ in range(500):
        if uvicorn_server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        uvicorn_server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_unfinished_headers_are_cut_off(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never the blank line
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 10) == b""  # closed by the server, not by the wait_for
    writer.close()


async def test_unfinished_bodies_are_cut_off(server: int, helpers: Any) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    auth = f"Authorization: Bearer {helpers.ADMIN}\r\n".encode()
    writer.write(b"POST /api/v1/echo HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: 100\r\n\r\n{")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()


async def test_keep_alive_requests_each_get_their_deadline(server: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server}") as client:
        for _ in range(3):
            assert (await client.get("/healthz")).status_code == 200


async def test_large_bodies_get_413(server: int, helpers: Any) -> None:
    headers = {"Authorization": f"Bearer {helpers.ADMIN}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server}", headers=headers) as client:
        small = await client.post("/api/v1/echo", json={"a": 1})
        assert small.status_code == 200, small.text
        big = await client.post("/api/v1/echo", json={f"k{i}": i for i in range(2000)})
        assert big.status_code == 413 and big.headers["content-type"] == "application/problem+json"

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while streaming
            yield b'{"a": "'
            for _ in range(10):
                yield b"x" * 1000
            yield b'"}'

        streamed = await client.post("/api/v1/echo", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413


async def test_streaming_paths_take_large_slow_bodies(server: int, helpers: Any) -> None:
    async def slow() -> AsyncIterator[bytes]:  # larger than the body limit, slower than the read deadline
        for _ in range(4):
            yield b"x" * 4096
            await asyncio.sleep(0.3)

    headers = {"Authorization": f"Bearer {helpers.ADMIN}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server}", headers=headers) as client:
        answer = await client.put("/api/v1/stream/upload", content=slow())
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"bytes": 4 * 4096}
        elsewhere = await client.post("/api/v1/echo", content=b"{" + b" " * 8192 + b"}")
        assert elsewhere.status_code == 413

"""Answers written by `send_text` (websockets' send() without its context manager) arrive as send() sends them."""

from __future__ import annotations

import asyncio

import pytest
from voltline_gateway.adapters.ocpp_server import send_text
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


@pytest.mark.parametrize("buffer_limit", [None, 0])  # 0: every write pauses the transport until the peer reads
async def test_answers_arrive_in_order_as_text_frames_and_a_closed_connection_raises(buffer_limit: int | None) -> None:
    outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    pad = "x" * 30_000  # 200 of these fill the socket's buffers: the transport pauses while the client is slow
    waited = 0

    async def handler(socket: ServerConnection) -> None:
        nonlocal waited
        if buffer_limit is not None:
            socket.transport.set_write_buffer_limits(high=buffer_limit)
        drain = socket.drain

        async def counted_drain() -> None:
            nonlocal waited
            waited += socket.paused
            await drain()

        socket.drain = counted_drain  # type: ignore[method-assign]
        for i in range(200):
            await send_text(socket, b'[3,"%d",{"pad":"%s"}]' % (i, pad.encode()))
        await socket.close()
        try:
            await send_text(socket, b'[3,"late",{}]')
        except ConnectionClosed:
            outcome.set_result("closed")
        else:
            outcome.set_result("sent")

    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", compression=None, max_size=2**20) as client:
            received = []
            async for frame in client:
                received.append(frame)
                if buffer_limit is not None:
                    await asyncio.sleep(0.001)  # a slow reader
        assert await outcome == "closed"
    assert received == [f'[3,"{i}",{{"pad":"{pad}"}}]' for i in range(200)]  # str: text frames
    if buffer_limit is not None:
        assert waited > 0  # the transport paused and was waited for, as send() waits

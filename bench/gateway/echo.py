"""The baseline: a bare websockets echo server with the gateway's transport and GC settings, nothing else."""

from __future__ import annotations

import asyncio
import gc
import sys

from voltline_gateway.settings import GatewaySettings
from websockets.asyncio.server import ServerConnection, serve


async def echo(socket: ServerConnection) -> None:
    async for frame in socket:
        await socket.send(frame)


async def main(port: int) -> None:
    async with serve(
        echo,
        "127.0.0.1",
        port,
        subprotocols=["ocpp1.6", "ocpp2.0.1"],
        compression=None,
        ping_interval=60,
        max_size=65536,  # type: ignore[list-item]
    ):
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    gc.freeze()
    gc.set_threshold(*GatewaySettings.model_fields["gc_thresholds"].default)  # the same as the gateway's
    asyncio.run(main(int(sys.argv[1])))

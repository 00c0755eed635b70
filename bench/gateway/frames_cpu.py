"""The gateway's CPU per station frame without a broker: `uv run python -m bench.gateway.frames_cpu [--rate 2000]`.

On a machine shared with others, the shared broker's acknowledgements come late and the background never
reaches its rate, so `bench.gateway.cpu`'s figure moves with the load. Here the gateway's own per-frame path runs
in one process: websockets' server, the gateway's frame loop (`OcppServer._frames`), the dispatcher (schema
validation, normalising), the station bus (envelope encoding, the batch writer's waiter and the publish deadline),
with a writer whose batches are "acknowledged" on the next turn of the loop and auth answering nothing (the
fallbacks apply). The stations are bench.gateway.load's background (the realistic mix) in a process of their own.
Prints the server's CPU microseconds (user and system) per frame over the timed window.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import time
from typing import Any

from voltline_bus import RequestTimeout
from voltline_events import Topics
from voltline_gateway.actions import ROUTES
from voltline_gateway.actions.context import Policy
from voltline_gateway.actions.outbound import COMMANDS
from voltline_gateway.adapters.bus import KafkaStationBus
from voltline_gateway.adapters.connection import StationConnection
from voltline_gateway.adapters.ocpp_server import Limits, OcppServer
from voltline_gateway.adapters.registry import StationRegistry
from voltline_gateway.adapters.validation import violation
from voltline_gateway.domain.quirks import QuirkRules
from voltline_gateway.domain.rate_limit import TokenBucket
from voltline_gateway.service_layer.dispatch import Dispatcher
from websockets.asyncio.server import ServerConnection, serve


class InstantWriter:
    """The batch writer's enqueue, acknowledged on the loop's next turn (as a batch's acknowledgement wakes it)."""

    def enqueue(self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        loop.call_soon(waiter.set_result, None)
        return waiter


class SilentAuth:
    async def request(self, *args: Any, **kwargs: Any) -> Any:
        raise RequestTimeout("no auth here", correlation_id="-")


async def serve_frames(port: int, ready: asyncio.Event) -> None:
    bus = KafkaStationBus(
        InstantWriter(),  # type: ignore[arg-type]
        SilentAuth(),  # type: ignore[arg-type]
        Topics(prefix="bench."),
        source="gateway/bench",
        auth_timeout=0.001,
        publish_timeout=10.0,
    )
    dispatcher = Dispatcher(ROUTES, COMMANDS, bus, Policy(), schemas=violation)
    limits = Limits(4096, 65536, 60.0, 60.0, 5.0, 10_000.0, 10_000.0, 100)
    server = object.__new__(OcppServer)
    server._dispatcher, server._limits = dispatcher, limits  # what _frames uses
    registry, rules = StationRegistry(), QuirkRules({})

    async def station(socket: ServerConnection) -> None:
        path = socket.request.path if socket.request else "/x"
        conn = StationConnection(
            path.rsplit("/", 1)[-1],
            str(socket.subprotocol),
            socket,
            tls=False,
            profile=0,
            registry=registry,
            rules=rules,
            bucket=TokenBucket(10_000.0, 10_000.0, time.monotonic()),
            known_model=None,
        )
        try:
            await server._frames(conn, socket)
        except Exception:
            pass

    async with serve(
        station, "127.0.0.1", port, subprotocols=["ocpp1.6", "ocpp2.0.1"], compression=None, ping_interval=None
    ):  # type: ignore[list-item]
        ready.set()
        await asyncio.Future()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=6.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    port = args.port or _free_port()

    async def run() -> dict[str, Any]:
        ready = asyncio.Event()
        server = asyncio.create_task(serve_frames(port, ready))
        await ready.wait()
        gc.collect()
        gc.freeze()
        gc.set_threshold(100_000, 20, 20)  # the gateway's
        start_at = time.time() + 3 + args.warmup
        part = {
            "url": f"ws://127.0.0.1:{port}/ocpp", "prefix": "F-", "auth_rate": 1, "bg_rate": args.rate,
            "duration": args.seconds, "start_at": start_at, "warmup": args.warmup, "raw": True,
            "auth": [0, 0, 1], "background": [0, args.stations, 1],
        }  # fmt: skip
        client = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.gateway.load", "latency", json.dumps(part), stdout=subprocess.PIPE
        )
        await asyncio.sleep(max(0.0, start_at - time.time()))
        t0 = os.times()
        await asyncio.sleep(args.seconds)
        t1 = os.times()
        out, _ = await client.communicate()
        server.cancel()
        result = json.loads(out.decode().strip().splitlines()[-1])
        frames = max(1.0, result["background_per_s"] * args.seconds)
        return {
            "frames_per_s": round(result["background_per_s"]),
            "skipped": result["background_skipped"],
            "errors": result["background_errors"],
            "server_cpu_us_per_frame": round(1e6 * (t1.user + t1.system - t0.user - t0.system) / frames, 1),
            "server_user_us_per_frame": round(1e6 * (t1.user - t0.user) / frames, 1),
            "server_system_us_per_frame": round(1e6 * (t1.system - t0.system) / frames, 1),
            "client_cpu_us_per_frame": result["client_cpu_us_per_message"],
            "load_average": round(os.getloadavg()[0], 1),
        }

    print(json.dumps(asyncio.run(run())), flush=True)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    main()

"""Simulated stations, run as a process of its own: `python -m bench.gateway.load MODE JSON-ARGS`.

Prints one JSON line with what it measured. Modes:
- mix: each station sends the realistic mix, one call at a time (as OCPP allows), for `duration` seconds.
- latency: Authorize at a fixed rate from some stations while others send the mix at a fixed rate.
- storm: connect and boot stations with `concurrency` at once; then hold the connections for `hold` seconds
  (with `password`: HTTP Basic auth, security profile 1, each station its own password_of()).
- flood: wrong passwords for one station id from one address, `concurrency` upgrades at a time, `duration` s.
- probe: one connected station sends a Heartbeat every 50 ms for `duration` s; its latencies.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

from bench.gateway.background import Fleet, open_fleet
from bench.gateway.payloads import StationFeed, authorize, boot


def password_of(prefix: str, index: int) -> str:
    """The station's Basic-auth password (20+ characters, as OCPP's 16-40 allow)."""
    return f"pw-{prefix}{index:06d}-bench-secret"


def version_of(index: int) -> str:
    return "ocpp1.6" if index % 2 == 0 else "ocpp2.0.1"


async def open_station(url: str, index: int, prefix: str) -> ClientConnection:
    return await connect(
        f"{url}/{prefix}{index:06d}",
        subprotocols=[version_of(index)],  # type: ignore[list-item]
        compression=None,
        ping_interval=None,
        open_timeout=120,
        max_size=2**20,
    )


async def call(socket: ClientConnection, frame: bytes) -> Any:
    await socket.send(frame, text=True)
    answer = orjson.loads(await socket.recv())
    if answer[1] != orjson.loads(frame)[1]:
        raise RuntimeError(f"answer to another message: {answer!r}")
    return answer


async def open_all(url: str, indexes: list[int], prefix: str, concurrency: int) -> list[ClientConnection]:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> ClientConnection:
        async with gate:
            return await open_station(url, i, prefix)

    return list(await asyncio.gather(*(one(i) for i in indexes)))


async def mix(url: str, indexes: list[int], prefix: str, duration: float, warmup: float) -> dict[str, Any]:
    sockets = await open_all(url, indexes, prefix, 200)
    counted = errors = 0
    start = time.perf_counter() + warmup
    stop = start + duration
    cpu0 = time.process_time()

    async def station(socket: ClientConnection, feed: StationFeed) -> None:
        nonlocal counted, errors
        while (now := time.perf_counter()) < stop:
            answer = await call(socket, next(feed))
            feed.answered(answer)
            if now >= start:
                counted += 1
                errors += answer[0] != 3 and answer[0] != 2  # 2: the echo server sends the call back
        return None

    feeds = [StationFeed(version_of(i), f"{prefix}{i:06d}") for i in indexes]
    await asyncio.gather(*(station(s, f) for s, f in zip(sockets, feeds, strict=True)))
    cpu = time.process_time() - cpu0
    await asyncio.gather(*(s.close() for s in sockets))
    sent = sum(next(f.ids) for f in feeds)
    return {
        "round_trips": counted,
        "seconds": duration,
        "errors": errors,
        "client_cpu_s": round(cpu, 2),
        "client_cpu_us_per_message": round(1e6 * cpu / sent, 1) if sent else None,
    }


async def latency(
    url: str,
    auth: list[int],
    background: list[int],
    prefix: str,
    auth_rate: float,
    bg_rate: float,
    duration: float,
    start_at: float | None = None,
    raw: bool = False,
    warmup: float = 0.0,
    trace: str | None = None,
) -> dict[str, Any]:
    """Authorize from the `auth` stations and the mix from the `background` ones (either may be empty).

    `warmup`: the stations start this long before `start_at` (or now) and nothing is counted until then, so
    the timed part measures the steady state (every background station's transaction started, the consumers
    past their first events), on the same connections.

    `raw`: the background stations are hand-made WebSockets on one schedule (bench.gateway.background: a
    protocol each, no task or timer per station, frames from templates), so the load generator takes a fraction
    of the CPU the websockets client does (it shares the cores it measures). The Authorize probe is unchanged.

    `trace`: a file to which each timed Authorize's id, send and receive times (CLOCK_MONOTONIC) and this
    thread's wait for a core meanwhile are written (bench.pipeline.hoptrace joins them with the gateway's).
    """
    auth_sockets = await open_all(url, auth, prefix, 200)
    fleet = Fleet(bg_rate, len(background), 0.0, 0.0) if raw else None
    bg_sockets: list[Any] = (
        await open_fleet(fleet, url, background, prefix, version_of)
        if fleet is not None
        else await open_all(url, background, prefix, 200)
    )
    sockets = [*auth_sockets, *bg_sockets]
    if fleet is not None and not auth:  # a background process: its own GC, as a long-lived service runs
        gc.collect()
        gc.freeze()
        gc.set_threshold(100_000, 20, 20)
    samples: list[float] = []
    statuses: dict[str, int] = {}
    bg_sent = bg_skipped = 0
    if start_at is not None:  # processes that share a run start their timed part together
        await asyncio.sleep(max(0.0, start_at - warmup - time.time()))
    counted_from = time.perf_counter() + warmup
    stop = counted_from + duration
    cpu0 = time.process_time()
    times0 = os.times()
    traced: list[dict[str, Any]] = []
    schedstat = os.open("/proc/thread-self/schedstat", os.O_RDONLY) if trace else -1

    async def mark_start() -> None:
        nonlocal cpu0, times0
        await asyncio.sleep(max(0.0, counted_from - time.perf_counter()))
        cpu0, times0 = time.process_time(), os.times()

    async def authorizer() -> None:
        busy: set[int] = set()
        tasks = set()
        n = 0
        while auth_sockets and time.perf_counter() < stop:
            k = n % len(auth_sockets)
            n += 1
            if k not in busy:
                busy.add(k)
                task = asyncio.create_task(one_authorize(k, busy, n))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await asyncio.sleep(1 / auth_rate)
        await asyncio.gather(*tasks)

    async def one_authorize(k: int, busy: set[int], n: int) -> None:
        version = version_of(auth[k])
        frame = orjson.dumps([2, f"a{n}", "Authorize", authorize(version, f"BENCH-{n % 50}")])
        waited0 = int(os.pread(schedstat, 64, 0).split()[1]) if trace else 0
        sent = time.monotonic()
        started = time.perf_counter()
        answer = await call(auth_sockets[k], frame)
        if started >= counted_from:
            samples.append(time.perf_counter() - started)
            if trace:
                waited = int(os.pread(schedstat, 64, 0).split()[1]) - waited0
                traced.append({"id": f"a{n}", "send": sent, "recv": time.monotonic(), "client_waited_ns": waited})
            info = answer[2].get("idTagInfo") or answer[2].get("idTokenInfo") or {}
            statuses[info.get("status", "?")] = statuses.get(info.get("status", "?"), 0) + 1
        busy.discard(k)

    async def background_station(socket: Any, feed: StationFeed, rank: int) -> None:
        nonlocal bg_sent, bg_skipped
        interval = len(bg_sockets) / bg_rate
        next_at = time.perf_counter() + interval * (hash(id(socket)) % 1000) / 1000
        if warmup:  # the stations join one after another over the warm-up's first two thirds (their transaction
            # starts are asked of auth: a thousand at once is a burst no fleet sends), then keep their interval
            next_at += warmup * 2 / 3 * rank / max(1, len(bg_sockets))
        while next_at < stop:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            feed.answered(await call(socket, next(feed)))
            counted = next_at >= counted_from
            bg_sent += counted
            next_at += interval
            while next_at < time.perf_counter():  # fell behind: skip, do not burst
                next_at += interval
                bg_skipped += counted

    if fleet is not None:  # raw: every background station on one schedule (bench.gateway.background)
        fleet.counted_from, fleet.stop = counted_from, stop
        stations = [fleet.run(bg_sockets, warmup)] if bg_sockets else []
    else:
        stations = [
            background_station(s, StationFeed(version_of(i), f"{prefix}{i:06d}"), rank)
            for rank, (s, i) in enumerate(zip(bg_sockets, background, strict=True))
        ]
    await asyncio.gather(mark_start(), authorizer(), *stations)
    if fleet is not None:
        bg_sent, bg_skipped = fleet.sent, fleet.skipped
    cpu = time.process_time() - cpu0
    times1 = os.times()
    await asyncio.gather(*(s.close() for s in sockets))
    if trace and traced:
        Path(trace).write_text("".join(json.dumps(t) + "\n" for t in traced))  # noqa: ASYNC240 (after the run)
    samples.sort()
    result: dict[str, Any] = {
        "client_cpu_s": round(cpu, 2),
        # Of which the kernel's (the sockets' system calls and epoll): what no change in the generator removes.
        "client_system_s": round(times1.system - times0.system, 2),
        "authorize_count": len(samples),
        "statuses": statuses,
        "background_per_s": bg_sent / duration,
        "client_cpu_us_per_message": round(1e6 * cpu / (bg_sent + len(samples)), 1) if bg_sent + len(samples) else None,
        "background_skipped": bg_skipped,
        "background_errors": sum(s.errors for s in bg_sockets) if raw else None,
        "background_calls_from_csms": sum(s.calls for s in bg_sockets) if raw else None,
    }
    if samples:
        result.update(
            p50_ms=1000 * samples[len(samples) // 2],
            p99_ms=1000 * samples[int(len(samples) * 0.99)],
            max_ms=1000 * samples[-1],
        )
    return result


_IP_BIND_ADDRESS_NO_PORT = 24  # Linux


def _client_frame(payload: bytes) -> bytes:
    """A masked text frame, as a client must send it (the zero mask keeps the payload as it is)."""
    n = len(payload)
    head = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0xFE]) + n.to_bytes(2, "big")
    return head + b"\0\0\0\0" + payload


async def _connect(host: str, port: int, index: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """One source address has ~28,000 ephemeral ports: beyond 20,000 stations, spread over 127.0.0.x."""
    if index < 20_000 or not host.startswith("127."):
        return await asyncio.open_connection(host, port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_IP, _IP_BIND_ADDRESS_NO_PORT, 1)  # the port is chosen at connect, per peer
    sock.bind((f"127.0.0.{1 + index // 20_000}", 0))
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, port))
    return await asyncio.open_connection(sock=sock)


async def _raw_boot(
    host: str, port: int, index: int, path: str, version: str, basic: tuple[str, str] | None = None
) -> tuple[str, asyncio.StreamWriter]:
    """Upgrade and boot with hand-made bytes: a storm generator must cost less than the gateway it measures."""
    reader, writer = await _connect(host, port, index)
    auth = ""
    if basic is not None:
        auth = "Authorization: Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode() + "\r\n"
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{auth}"
        f"Sec-WebSocket-Protocol: {version}\r\n\r\n".encode()
        + _client_frame(orjson.dumps([2, "b", "BootNotification", boot(version)]))
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        return head.split(b"\r\n", 1)[0].decode(), writer
    first = await reader.readexactly(2)
    length = first[1] & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    answer = orjson.loads(await reader.readexactly(length))
    return (answer[2].get("status", "error") if answer[0] == 3 else "call_error"), writer


async def storm(
    url: str, indexes: list[int], prefix: str, concurrency: int, hold: float, password: bool = False
) -> dict[str, Any]:
    gate = asyncio.Semaphore(concurrency)
    outcomes: dict[str, int] = {}
    writers: list[asyncio.StreamWriter] = []
    host_port, _, base = url.removeprefix("ws://").partition("/")
    host, port = host_port.rsplit(":", 1)
    first = time.time()

    async def one(i: int) -> None:
        async with gate:
            try:
                station = f"{prefix}{i:06d}"
                basic = (station, password_of(prefix, i)) if password else None
                status, writer = await _raw_boot(host, int(port), i, f"/{base}/{station}", version_of(i), basic)
                writers.append(writer)
            except Exception as exc:
                status = type(exc).__name__
            outcomes[status] = outcomes.get(status, 0) + 1

    await asyncio.gather(*(one(i) for i in indexes))
    result = {"started": first, "finished": time.time(), "outcomes": outcomes, "connected": len(writers)}
    print(json.dumps(result), flush=True)
    await asyncio.sleep(hold)  # idle connections, for the memory measurement
    for writer in writers:
        writer.close()
    return result


async def flood(url: str, station: str, concurrency: int, duration: float) -> dict[str, Any]:
    """Wrong passwords for one station id, from one address, as fast as the gateway answers."""
    host_port, _, base = url.removeprefix("ws://").partition("/")
    host, port = host_port.rsplit(":", 1)
    statuses: dict[str, int] = {}
    end = time.monotonic() + duration
    attempts = 0

    async def attacker(k: int) -> None:
        nonlocal attempts
        while time.monotonic() < end:
            attempts += 1
            wrong = (station, f"wrong-password-{k:04d}-{attempts:08d}")
            try:
                status, writer = await _raw_boot(host, int(port), 0, f"/{base}/{station}", "ocpp1.6", wrong)
                writer.close()
            except Exception as exc:
                status = type(exc).__name__
            statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(attacker(k) for k in range(concurrency)))
    return {"attempts": attempts, "attempts_per_s": attempts / duration, "statuses": statuses}


async def probe(url: str, station: str, duration: float, start_at: float | None) -> dict[str, Any]:
    """A connected station's Heartbeat round trips, every 50 ms."""
    socket = await connect(
        f"{url}/{station}",
        subprotocols=["ocpp1.6"],
        compression=None,
        ping_interval=None,
        open_timeout=120,  # type: ignore[list-item]
    )
    await call(socket, orjson.dumps([2, "boot", "BootNotification", boot("ocpp1.6")]))
    if start_at is not None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
    latencies: list[float] = []
    end = time.monotonic() + duration
    n = 0
    while time.monotonic() < end:
        n += 1
        started = time.perf_counter()
        await call(socket, orjson.dumps([2, f"hb{n}", "Heartbeat", {}]))
        latencies.append(1000 * (time.perf_counter() - started))
        await asyncio.sleep(0.05)
    await socket.close()
    latencies.sort()
    return {
        "heartbeats": len(latencies),
        "p50_ms": latencies[len(latencies) // 2],
        "p99_ms": latencies[int(len(latencies) * 0.99)],
        "max_ms": latencies[-1],
    }


def main() -> None:
    mode, args = sys.argv[1], json.loads(sys.argv[2])
    for name in ("indexes", "auth", "background"):  # [start, stop, step], as for range()
        if name in args:
            args[name] = list(range(*args[name]))
    if mode == "mix":
        result = asyncio.run(mix(args["url"], args["indexes"], args["prefix"], args["duration"], args["warmup"]))
    elif mode == "latency":
        result = asyncio.run(
            latency(
                args["url"], args["auth"], args["background"], args["prefix"],
                args["auth_rate"], args["bg_rate"], args["duration"], args.get("start_at"), args.get("raw", False),
                args.get("warmup", 0.0), args.get("trace"),
            )
        )  # fmt: skip
    elif mode == "storm":
        storm_args = (args["url"], args["indexes"], args["prefix"], args["concurrency"], args["hold"])
        asyncio.run(storm(*storm_args, password=args.get("password", False)))
        return
    elif mode == "flood":
        result = asyncio.run(flood(args["url"], args["station"], args["concurrency"], args["duration"]))
    elif mode == "probe":
        result = asyncio.run(probe(args["url"], args["station"], args["duration"], args.get("start_at")))
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

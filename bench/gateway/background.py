"""The background stations of `bench.gateway.load latency` (raw mode), at a fraction of the CPU of one task each.

They stand for stations that in the field are other machines, yet they run on the two cores they measure, so
what they cost is taken from the gateway and the services. Each station is an `asyncio.Protocol` (no stream
reader, no task): its answers are parsed where they arrive, and one timer for the whole fleet sends every
frame that is due (instead of a task per station sleeping on a timer of its own per message). What is sent and
when is as before: a station sends its next frame of the mix (TemplateFeed: StationFeed's bytes) at its own
interval after its previous call was answered, skips a send whose time has passed and does not burst.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from typing import Any

import orjson

from bench.gateway.payloads import TemplateFeed


def _client_head(n: int) -> bytes:
    """The header of a masked client text frame of `n` bytes (zero mask: the payload goes as it is)."""
    head = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0xFE]) + n.to_bytes(2, "big")
    return head + b"\0\0\0\0"


class Station(asyncio.Protocol):
    """One background station's WebSocket, hand-made: the upgrade, then frames read from one buffer."""

    def __init__(self, fleet: Fleet | None, version: str, name: str) -> None:
        self.fleet = fleet
        self.feed = TemplateFeed(version, name)
        self.buffer = bytearray()
        self.open = False
        self.upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.next_at = 0.0
        self.rank = 0
        self.busy = False
        self.lost = False
        self.errors = 0
        self.calls = 0  # text frames while it asked nothing (calls from the CSMS)

    @classmethod
    async def open_to(cls, fleet: Fleet, url: str, index: int, prefix: str, version: str) -> Station:
        host_port, _, base = url.removeprefix("ws://").partition("/")
        host, port = host_port.rsplit(":", 1)
        name = f"{prefix}{index:06d}"
        loop = asyncio.get_running_loop()
        _, station = await loop.create_connection(lambda: cls(fleet, version, name), host, int(port))
        assert station.transport is not None
        station.transport.write(
            f"GET /{base}/{name} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {version}\r\n\r\n".encode()
        )
        await station.upgraded
        return station

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError(f"closed during the upgrade: {exc!r}"))
        self.lost = True
        if self.busy and self.fleet is not None:  # its call will not be answered: the station is done
            self.busy = False
            self.errors += 1
            self.fleet.gone()

    def send_next(self) -> None:
        self.busy = True
        frame = next(self.feed)
        assert self.transport is not None
        self.transport.write(_client_head(len(frame)) + frame)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.open:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end])
            del buffer[: end + 4]
            if not head.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_exception(RuntimeError(f"upgrade refused: {head.splitlines()[0]!r}"))
                return
            self.open = True
            self.upgraded.set_result(None)
        while len(buffer) >= 2:
            length, start = buffer[1] & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + length:
                return
            opcode = buffer[0] & 0x0F
            body = bytes(buffer[start : start + length])
            del buffer[: start + length]
            if opcode == 0x9:  # ping: pong with the same data
                assert self.transport is not None
                self.transport.write(bytes([0x8A, 0x80 | length]) + b"\0\0\0\0" + body)
                continue
            if opcode != 0x1:  # close, pong: nothing to answer here
                continue
            if not self.busy:  # nothing asked: a call from the CSMS (taken, as before, for the answer while busy)
                self.calls += 1
                continue
            self.busy = False
            self.errors += not body.startswith(b"[3,")
            if self.feed.transaction is None:
                self.feed.answered(orjson.loads(body))
            if self.fleet is not None:
                self.fleet.answered(self)

    async def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(bytes([0x88, 0x82]) + b"\0\0\0\0" + (1000).to_bytes(2, "big"))
            self.transport.close()


class Fleet:
    """Every background station's schedule, on one timer: each sends at `interval` after its phase, one call at
    a time; a send whose time passed while the call before it was answered is skipped (counted)."""

    def __init__(self, rate: float, count: int, counted_from: float, stop: float) -> None:
        self.interval = count / rate
        self.counted_from, self.stop = counted_from, stop
        self.sent = self.skipped = 0
        self._heap: list[tuple[float, int, Station]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._wake_at = float("inf")
        self._busy = 0
        self._done: asyncio.Future[None] | None = None

    async def run(self, stations: list[Station], warmup: float) -> None:
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        now = time.perf_counter()
        for rank, station in enumerate(stations):
            station.rank = rank
            next_at = now + self.interval * (hash(id(station)) % 1000) / 1000
            if warmup:  # the stations join one after another over the warm-up's first two thirds (their
                # transaction starts are asked of auth: a thousand at once is a burst no fleet sends)
                next_at += warmup * 2 / 3 * rank / max(1, len(stations))
            if next_at < self.stop:
                heapq.heappush(self._heap, (next_at, station.rank, station))
        self._tick()
        await self._done

    def _tick(self) -> None:
        self._timer, self._wake_at = None, float("inf")
        heap, now = self._heap, time.perf_counter()
        while heap and heap[0][0] <= now:
            next_at, _, station = heapq.heappop(heap)
            if station.lost:  # the gateway closed it: it sends no more
                continue
            station.next_at = next_at
            self._busy += 1
            station.send_next()
        self._arm(now)

    def _arm(self, now: float) -> None:
        if self._heap:
            first = self._heap[0][0]
            if first < self._wake_at:
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = asyncio.get_running_loop().call_later(max(0.0, first - now), self._tick)
                self._wake_at = first
        elif not self._busy and self._done is not None and not self._done.done():
            self._done.set_result(None)

    def gone(self) -> None:
        """A busy station's connection was closed: its call is over, unanswered."""
        self._busy -= 1
        self._arm(time.perf_counter())

    def answered(self, station: Station) -> None:
        """The station's call was answered: count it, and schedule its next send (skipping those missed)."""
        self._busy -= 1
        next_at = station.next_at
        counted = next_at >= self.counted_from
        self.sent += counted
        next_at += self.interval
        now = time.perf_counter()
        while next_at < now:  # fell behind: skip, do not burst
            next_at += self.interval
            self.skipped += counted
        if next_at < self.stop:
            heapq.heappush(self._heap, (next_at, station.rank, station))
        self._arm(now)


async def open_fleet(fleet: Fleet, url: str, indexes: list[int], prefix: str, versions: Any) -> list[Station]:
    return list(await asyncio.gather(*(Station.open_to(fleet, url, i, prefix, versions(i)) for i in indexes)))

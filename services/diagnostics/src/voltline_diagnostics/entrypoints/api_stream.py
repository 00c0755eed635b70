"""A live stream of status and alert changes as Server-Sent Events (GET /api/v1/stream).

The stream reads the service's own events topic (Topics.diagnostics) rather than this process's work, so
every instance streams the whole fleet whichever instance handled a station. One Kafka reader per process
starts with the first subscriber and fans out to every open stream; a slow client loses its oldest
queued events rather than slowing the others (it can re-read state from the API).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from voltline_bus import BusConfig, FollowedRecord, TopicFollower
from voltline_chassis.schemas import media
from voltline_chassis.security import require_role
from voltline_events import Envelope

log = structlog.get_logger()
QUEUE = 1000
KEEPALIVE_S = 15.0


class LiveStream:
    def __init__(self, bus: BusConfig, topic: str) -> None:
        self.bus, self.topic = bus, topic
        self.subscribers: set[asyncio.Queue[Envelope]] = set()
        self._follower = TopicFollower(bus, topic, self._fan_out, from_beginning=False, name="diagnostics-stream")
        self._starting = asyncio.Lock()

    def _fan_out(self, record: FollowedRecord) -> None:
        try:
            envelope = Envelope.from_bytes(record.value or b"")
        except ValueError:
            return
        for queue in list(self.subscribers):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(envelope)

    async def subscribe(self) -> asyncio.Queue[Envelope]:
        queue: asyncio.Queue[Envelope] = asyncio.Queue(QUEUE)
        self.subscribers.add(queue)
        try:
            async with self._starting:  # one reader, started by the first subscriber (or again if it ended)
                if not self._follower.running:
                    await self._follower.stop()
                    # its end position is pinned before start() returns: nothing after this subscriber is missed
                    await self._follower.start()
        except BaseException:
            self.unsubscribe(queue)
            raise
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Envelope]) -> None:
        self.subscribers.discard(queue)

    async def stop(self) -> None:
        await self._follower.stop()


def sse(envelope: Envelope) -> bytes:
    data = {
        "type": envelope.type,
        "station_id": envelope.station_id,
        "time": envelope.time.isoformat(),
        **envelope.payload,
    }
    return f"id: {envelope.event_id}\nevent: {envelope.type}\ndata: {json.dumps(data)}\n\n".encode()


async def events(
    stream: LiveStream, queue: asyncio.Queue[Envelope], station_id: str | None, types: set[str]
) -> AsyncIterator[bytes]:
    try:
        yield b": connected\n\n"
        while True:
            try:
                envelope = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except TimeoutError:
                yield b": keepalive\n\n"
                continue
            if station_id is not None and envelope.station_id != station_id:
                continue
            if types and envelope.type not in types:
                continue
            yield sse(envelope)
    finally:
        stream.unsubscribe(queue)


SSE = media("text/event-stream", "Server-Sent Events: one per diagnostics event, named by its type")


def build_router(stream: LiveStream) -> APIRouter:
    router = APIRouter(tags=["stream"], dependencies=[Depends(require_role("viewer"))])

    @router.get("/stream", response_class=StreamingResponse, responses=SSE)
    async def live(
        station_id: str | None = None,
        types: Annotated[list[str] | None, Query(alias="type")] = None,
    ) -> StreamingResponse:
        """Server-Sent Events: diagnostics.connector_status_changed, station_health_changed, alert_opened,
        alert_resolved (event name = type; data = JSON with station_id, time and the event's fields)."""
        queue = await stream.subscribe()
        return StreamingResponse(
            events(stream, queue, station_id, set(types or [])),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router

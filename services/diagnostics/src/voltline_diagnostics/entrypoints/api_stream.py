"""A live stream of status and alert changes as Server-Sent Events (GET /api/v1/stream).

The stream reads the service's own events topic (Topics.diagnostics) rather than this process's work, so
every instance streams the whole fleet whichever instance handled a station. One Kafka reader per process
starts with the first subscriber and fans out to every open stream; a slow client loses its oldest
queued events rather than slowing the others (it can re-read state from the API). The service publishes
connector status changes in groups (`diagnostics.connector_statuses_changed`): each change is streamed as a
`diagnostics.connector_status_changed` of its station.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, NamedTuple

import structlog
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from voltline_bus import BusConfig, FollowedRecord, TopicFollower
from voltline_chassis.schemas import media
from voltline_chassis.security import require_role
from voltline_events import Envelope
from voltline_events.payloads import ConnectorStatusChanged, ConnectorStatusesChanged

log = structlog.get_logger()
QUEUE = 1000
KEEPALIVE_S = 15.0


class Item(NamedTuple):
    """One streamed event: its SSE id and name, its station, its data's fields."""

    event_id: str
    type: str
    station_id: str | None
    time: str
    fields: dict[str, Any]


def items(envelope: Envelope) -> list[Item]:
    """What an event of the topic streams as: a group of status changes as one event per change."""
    time = envelope.time.isoformat()
    if envelope.type != ConnectorStatusesChanged.TYPE:
        return [Item(str(envelope.event_id), envelope.type, envelope.station_id, time, envelope.payload)]
    one = ConnectorStatusChanged.TYPE
    out = []
    for n, change in enumerate(envelope.payload.get("changes") or []):
        fields = {k: v for k, v in change.items() if k != "station_id"}
        out.append(Item(f"{envelope.event_id}-{n}", one, change.get("station_id"), time, fields))
    return out


class LiveStream:
    def __init__(self, bus: BusConfig, topic: str) -> None:
        self.bus, self.topic = bus, topic
        self.subscribers: set[asyncio.Queue[Item]] = set()
        self._follower = TopicFollower(bus, topic, self._fan_out, from_beginning=False, name="diagnostics-stream")
        self._starting = asyncio.Lock()

    def _fan_out(self, record: FollowedRecord) -> None:
        try:
            streamed = items(Envelope.from_bytes(record.value or b""))
        except ValueError:
            return
        for queue in list(self.subscribers):
            for item in streamed:
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(item)

    async def subscribe(self) -> asyncio.Queue[Item]:
        queue: asyncio.Queue[Item] = asyncio.Queue(QUEUE)
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

    def unsubscribe(self, queue: asyncio.Queue[Item]) -> None:
        self.subscribers.discard(queue)

    async def stop(self) -> None:
        await self._follower.stop()


def sse(item: Item) -> bytes:
    data = {"type": item.type, "station_id": item.station_id, "time": item.time, **item.fields}
    return f"id: {item.event_id}\nevent: {item.type}\ndata: {json.dumps(data)}\n\n".encode()


async def events(
    stream: LiveStream, queue: asyncio.Queue[Item], station_id: str | None, types: set[str]
) -> AsyncIterator[bytes]:
    try:
        yield b": connected\n\n"
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except TimeoutError:
                yield b": keepalive\n\n"
                continue
            if station_id is not None and item.station_id != station_id:
                continue
            if types and item.type not in types:
                continue
            yield sse(item)
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

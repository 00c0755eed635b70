"""Events that change nothing but a station's "last seen", answered from memory; the times written every few seconds.

`quiet(ctx, envelope)` is asked by the station events consumer's handlers first: a heartbeat, meter values, a
transaction update or a repeated StatusNotification of a station whose last committed batch left nothing they
would change (`domain/heard.py`) only moves the station's silence deadline and its newest time in memory; no
inbox marker, no read, no write. `write_heard` (every `VOLTLINE_LAST_SEEN_FLUSH_S`, and at stop) writes those
times in one statement. Such an event is idempotent (the newest time wins), so it needs no inbox marker.

What an operator sees: `last_seen_at` (status, fleet list) up to the flush interval behind the last message
(it moved only by whole seconds before); health, alerts, history, connector statuses and the live stream
are what they were: an event that would change any of them goes through a batch transaction as before.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from uuid import uuid4

from voltline_events import Envelope

from voltline_diagnostics.domain.heard import SIGNS_OF_LIFE, HeardMemory, Known
from voltline_diagnostics.service_layer.context import HealthContext
from voltline_diagnostics.service_layer.ports import ConnectorRow, StationRow
from voltline_diagnostics.service_layer.status import record_heard


def _known(memory: HeardMemory, envelope: Envelope, now: float) -> Known | None:
    station_id, kind = envelope.station_id, envelope.type
    if station_id is None:
        return None
    if kind in SIGNS_OF_LIFE:
        return memory.quiet_sign_of_life(station_id, now)
    if kind == "station.transaction":
        return memory.quiet_transaction(station_id, now, envelope.payload)
    if kind == "station.connector_status":
        return memory.quiet_status(station_id, now, envelope.payload)
    return None


def would_be_quiet(ctx: HealthContext, envelope: Envelope) -> bool:
    """Whether `quiet` would take the event (a batch leaves it out of its markers and reads)."""
    memory = ctx.heard
    return memory is not None and _known(memory, envelope, time.monotonic()) is not None


def quiet(ctx: HealthContext, envelope: Envelope) -> bool:
    """Take the event from memory if it changes nothing but the station's last seen time (True), else leave it
    to the batch (False). A station the current batch already holds stays in the batch: its rows there may
    have changed since its last commit."""
    memory = ctx.heard
    if memory is None or envelope.station_id is None or ctx.in_batch(envelope.station_id):
        return False
    known = _known(memory, envelope, time.monotonic())
    if known is None:
        return False
    if envelope.type == "station.connector_status":
        memory.repeated(known, envelope.payload, envelope.time)
    deadline = memory.heard(envelope.station_id, known, envelope.time, ctx.clock())
    ctx.silence_watch.heard(envelope.station_id, deadline)
    return True


def remember(
    ctx: HealthContext,
    stations: Iterable[StationRow],
    ports: Mapping[str, Iterable[ConnectorRow]],
    maintenance: Mapping[str, Mapping[str, str]],
) -> None:
    """A batch committed these stations (their rows as written) and handed maintenance these statuses."""
    memory = ctx.heard
    if memory is None:
        return
    now = time.monotonic()
    for s in stations:
        reports = [
            ((c.evse_id, c.connector_id), (c.status, c.ocpp_status, c.error_code, c.vendor_error_code, c.info))
            for c in ports.get(s.station_id, ())
        ]
        memory.remember(
            s.station_id,
            now=now,
            last_seen=s.last_seen_at,
            limit=ctx.silence.limit(s.heartbeat_interval_s, ctx.default_heartbeat_s),
            responsive=not s.unresponsive,
            no_pending_authorization=s.authorized_at is None and not s.unused_authorizations,
            ports=reports,
            maintenance=maintenance.get(s.station_id, {}),
        )


def forget(ctx: HealthContext, station_ids: Iterable[str]) -> None:
    if ctx.heard is not None:
        for station_id in station_ids:
            ctx.heard.forget(station_id)


def seen(ctx: HealthContext, station: StationRow) -> datetime:
    """The station's last seen time, counting what this process heard and has not written yet."""
    pending = ctx.heard.pending(station.station_id) if ctx.heard is not None else None
    return station.last_seen_at if pending is None else max(station.last_seen_at, pending)


async def write_heard(ctx: HealthContext) -> int:
    """Write every station's newest time heard from memory (one statement). A station found unresponsive
    after that time was handled (another instance's monitor marked it meanwhile) is heard again through a
    unit of work, as the event would have been: back online, its alert resolved. Returns how many."""
    memory = ctx.heard
    if memory is None:
        return 0
    taken = memory.take()
    if not taken:
        return 0
    try:
        async with ctx.uow() as uow:
            marked = await uow.status.touch_many({sid: at for sid, (at, _) in taken.items()}, ctx.clock())
            await uow.commit()
    except BaseException:
        memory.put_back(taken)
        raise
    for station_id, marked_at in marked.items():
        at, handled_at = taken[station_id]
        memory.forget(station_id)
        if handled_at > marked_at:  # handled after the marking: it clears it, as in a batch
            await record_heard(ctx, station_id, uuid4(), at, None)
    return len(taken)

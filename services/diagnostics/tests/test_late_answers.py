"""Boot answers and signs of life read late or out of order, as after an embedded broker's restart (ADR 0045,
ADR 0038 amended): an older boot answer read after a newer one changes nothing, and a message older than the
silence that made a station unresponsive does not end it. On both stores, one transaction per event and batched."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from status_store import T0, Store
from test_late_lifecycle import at, boot, connected, read, read_both_ways
from voltline_diagnostics.adapters.health_tables import alerts, stations
from voltline_diagnostics.service_layer import monitor
from voltline_events import Envelope
from voltline_events.payloads import BootAnswered, Heartbeat


def answer(status: str, interval: int) -> BootAnswered:
    return BootAnswered(ocpp_version="ocpp1.6", status=status, interval=interval)


async def registration(store: Store, sid: str) -> tuple[Any, ...]:
    async with store.engine.connect() as conn:
        s = stations.c
        query = sa.select(s.boot_status, s.heartbeat_interval_s, s.last_boot_at, s.firmware_version)
        return tuple((await conn.execute(query.where(s.station_id == sid))).one())


def reboots(sid: str) -> list[Envelope]:
    """Connects, boots (told Accepted, 300 s), boots again with new firmware and is told Pending (retry in 60 s)."""
    return [
        at(sid, 0, connected()),
        at(sid, 1, boot("1.0")),
        at(sid, 1.1, answer("Accepted", 300)),
        at(sid, 70, boot("2.0")),
        at(sid, 70.1, answer("Pending", 60)),
    ]


async def test_an_older_boot_answer_read_after_a_newer_one_changes_nothing(store: Store) -> None:
    for batch in (False, True):
        sid = f"CP-ANSWERS-{batch}"
        story = reboots(sid)
        field = [*story[3:], *story[:3], *story]  # the newest boot and answer resent first, the replay, copies
        await read(store, field, batch=batch)
        # the newest answer's status; the interval of the Accepted one (a Pending interval is a retry delay)
        assert await registration(store, sid) == ("Pending", 300, T0 + timedelta(seconds=70), "2.0")


async def test_an_answer_read_before_its_boot_is_kept(store: Store) -> None:
    sid = "CP-ANSWER-FIRST"
    story = reboots(sid)
    await read(store, [story[0], story[4], story[3], story[1], story[2]], batch=False)
    assert await registration(store, sid) == ("Pending", 300, T0 + timedelta(seconds=70), "2.0")


async def test_a_boot_not_answered_yet_shows_no_status_whatever_older_answer_comes_late(store: Store) -> None:
    sid = "CP-UNANSWERED"
    story = reboots(sid)[:4]
    await read(store, [story[0], story[3], story[1], story[2]], batch=True)
    assert await registration(store, sid) == (None, 300, T0 + timedelta(seconds=70), "2.0")


def reboots_at_random(station: str, seed: int) -> list[Envelope]:
    """Connects, then boots five times, each answered (at random) or not (the gateway went away)."""
    pick = random.Random(seed)
    out, seconds = [at(station, 0, connected())], 0.0
    for i in range(5):
        seconds += pick.uniform(1, 60)
        out.append(at(station, seconds, boot(f"{i}.0")))
        if pick.random() < 0.8:
            seconds += pick.uniform(0, 0.5)
            status = pick.choice(["Accepted", "Pending", "Rejected"])
            out.append(at(station, seconds, answer(status, pick.choice([0, 60, 300, 900]))))
    return out


async def test_boot_answers_in_any_delivery_order_with_copies_end_as_read_in_order(store: Store) -> None:
    rng = random.Random(47)
    for n in range(6):
        sid, ordered = await read_both_ways(store, reboots_at_random, n, rng, "CP-B")
        assert await registration(store, sid) == await registration(store, ordered)


def heartbeat(sid: str, seconds: float) -> Envelope:
    return at(sid, seconds, Heartbeat(ocpp_version="ocpp1.6"))


async def silent(store: Store, sid: str, now: list[datetime]) -> None:
    """Heard at T0 + 10 s, then silent: marked unresponsive at T0 + 700 s (its limit: 2 x 300 s)."""
    store.ctx.clock = lambda: now[0]
    await read(store, [at(sid, 0, connected()), heartbeat(sid, 10)], batch=False)
    now[0] = T0 + timedelta(seconds=700)
    await monitor._check_silent(store.ctx, sid, now[0])
    assert await unresponsive(store, sid) == (True, "open")


async def unresponsive(store: Store, sid: str) -> tuple[bool, str]:
    async with store.engine.connect() as conn:
        marked = (await conn.execute(sa.select(stations.c.unresponsive).where(stations.c.station_id == sid))).scalar()
        query = sa.select(alerts.c.status).where(alerts.c.station_id == sid, alerts.c.rule == "station_unresponsive")
        found = (await conn.execute(query)).scalars().all()
    return bool(marked), found[-1] if found else ""


async def test_a_message_older_than_the_silence_does_not_end_station_unresponsive(store: Store) -> None:
    for batch in (False, True):
        sid, now = f"CP-GHOST-{batch}", [T0]
        await silent(store, sid, now)
        now[0] = T0 + timedelta(seconds=701)
        # replayed: one older than what was heard, one newer but still 600 s before now, a copy of the heartbeat
        await read(store, [heartbeat(sid, 5), heartbeat(sid, 60)], batch=batch)
        await read(store, [heartbeat(sid, 10)], batch=batch)
        assert await unresponsive(store, sid) == (True, "open")
        await read(store, [heartbeat(sid, 702)], batch=batch)  # heard again
        assert await unresponsive(store, sid) == (False, "resolved")


async def test_a_message_from_within_the_silence_limit_of_now_ends_station_unresponsive(store: Store) -> None:
    """Stamped before the mark but within the station's limit of now: it was not silent that long after all (the
    message was in flight, or held by a broker that restarted), and the monitor would not mark it now."""
    sid, now = "CP-INFLIGHT", [T0]
    await silent(store, sid, now)
    now[0] = T0 + timedelta(seconds=701)
    await read(store, [heartbeat(sid, 650)], batch=True)
    assert await unresponsive(store, sid) == (False, "resolved")
    async with store.engine.connect() as conn:
        query = sa.select(alerts.c.opened_at, alerts.c.resolved_at).where(alerts.c.station_id == sid)
        opened, resolved = (await conn.execute(query)).one()
    assert resolved == opened == T0 + timedelta(seconds=700)  # never resolved before it was opened

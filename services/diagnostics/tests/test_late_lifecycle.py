"""A station's events read out of their order, as after an embedded broker's restart (ADR 0045, ADR 0038): the
disconnect first (the producer resent it to the new broker), then the spool's replay of the connect, boot and
reports before it, then copies of them. Diagnostics shows what the newest event says, on both stores, one
transaction per event and in one batch."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from status_store import T0, Store
from test_status_batch import state
from voltline_diagnostics.adapters.health_tables import stations
from voltline_events import Envelope, envelope_for
from voltline_events.payloads import BootNotification, ConnectorStatus, StationConnected, StationDisconnected


def at(sid: str, seconds: float, event: Any) -> Envelope:
    envelope = envelope_for(event, source="gateway/test", station_id=sid)
    return envelope.model_copy(update={"time": T0 + timedelta(seconds=seconds)})


def status(value: str, code: str = "NoError") -> ConnectorStatus:
    return ConnectorStatus(ocpp_version="ocpp1.6", connector_id=1, status=value, error_code=code)


def connected() -> StationConnected:
    return StationConnected(ocpp_version="ocpp1.6", gateway_instance="gw")


def boot(firmware: str = "1.0") -> BootNotification:
    return BootNotification(ocpp_version="ocpp1.6", vendor="ACME", model="Volt-22", firmware_version=firmware, raw={})


def left(sid: str) -> list[Envelope]:
    """Connects, boots, reports Faulted then Available, and leaves."""
    return [
        at(sid, 1, connected()),
        at(sid, 2, boot()),
        at(sid, 3, status("Faulted", "GroundFailure")),
        at(sid, 4, status("Available")),
        at(sid, 5, StationDisconnected(gateway_instance="gw", reason="closed")),
    ]


async def read(store: Store, envelopes: list[Envelope], *, batch: bool) -> None:
    if not batch:
        for envelope in envelopes:
            await store.dispatch(envelope)
        return
    async with store.scope(envelopes):
        for envelope in envelopes:
            await store.dispatch(envelope)


async def shown(store: Store, sid: str) -> dict[str, Any]:
    async with store.engine.connect() as conn:
        row = (await conn.execute(sa.select(stations).where(stations.c.station_id == sid))).one()
    found = await state(store.engine, sid)
    return {
        "online": row.online,
        # its online/offline stretches (a station first heard of by a disconnect has an empty online one)
        "presence": [online for online, start, end in found["presence"] if end is None or end > start],
        "port": found["port"],
        "alerts": found["alerts"],
        "firmware": row.firmware_version,
    }


async def test_a_disconnect_read_before_the_connect_it_follows_leaves_the_station_offline(store: Store) -> None:
    for batch in (False, True):
        sid = f"CP-LEFT-{batch}"
        story = left(sid)
        field = [story[4], *story[:4], *story]  # the disconnect, the replay, then copies of everything
        await read(store, field, batch=batch)
        seen = await shown(store, sid)
        assert seen["online"] is False
        assert seen["presence"] == [False]  # no phantom online stretch
        assert seen["port"] == [("Available", T0 + timedelta(seconds=4))]  # shown Unknown while offline
        assert seen["alerts"] == [("connector_faulted", "resolved")]  # the fault it had, over


async def test_a_report_read_after_a_newer_one_changes_nothing(store: Store) -> None:
    for batch in (False, True):
        sid = f"CP-PORT-{batch}"
        story = left(sid)[:4]
        field = [story[0], story[1], story[3], story[2], *story]  # Available (newer) before Faulted, then copies
        await read(store, field, batch=batch)
        seen = await shown(store, sid)
        assert seen["online"] is True
        assert seen["port"] == [("Available", T0 + timedelta(seconds=4))]
        assert seen["alerts"] == []  # no fault alert opened from the older report


async def test_an_older_disconnect_read_after_a_reconnect_leaves_the_station_online(store: Store) -> None:
    sid = "CP-BACK"
    first, gone, back = (
        at(sid, 1, connected()),
        at(sid, 2, StationDisconnected(gateway_instance="gw", reason="closed")),
        at(sid, 4, connected()),
    )
    await read(store, [first, back, gone, first, gone], batch=False)
    seen = await shown(store, sid)
    assert seen["online"] is True
    assert seen["presence"] == [True]


async def test_an_older_boot_read_late_keeps_the_newer_inventory(store: Store) -> None:
    sid = "CP-BOOTS"
    older, newer = at(sid, 1, boot("1.0")), at(sid, 60, boot("2.0"))
    await read(store, [at(sid, 0, connected()), newer, older], batch=False)
    assert (await shown(store, sid))["firmware"] == "2.0"


def story(station: str, seed: int) -> list[Envelope]:
    """Connects, then ten reports, disconnects or connects at random times."""
    pick = random.Random(seed)
    out, seconds = [at(station, 0, connected())], 0.0
    for _ in range(10):
        seconds += pick.uniform(0.5, 30)
        roll = pick.random()
        if roll < 0.5:
            value = pick.choice(["Available", "Charging", "Faulted"])
            event: Any = status(value, "GroundFailure" if value == "Faulted" else "NoError")
        elif roll < 0.75:
            event = StationDisconnected(gateway_instance="gw", reason="closed")
        else:
            event = connected()
        out.append(at(station, seconds, event))
    return out


async def read_both_ways(
    store: Store, story: Callable[[str, int], list[Envelope]], n: int, rng: random.Random, prefix: str
) -> tuple[str, str]:
    """Story `n` read as station `<prefix>R<n>` in a random order with four copies (in one batch when `n` is odd)
    and as `<prefix>O<n>` in order, one transaction per event: the two stations."""
    sid, ordered = f"{prefix}R{n}", f"{prefix}O{n}"
    events = story(sid, n)
    delivered = events + [rng.choice(events) for _ in range(4)]
    rng.shuffle(delivered)
    await read(store, delivered, batch=n % 2 == 1)
    await read(store, story(ordered, n), batch=False)
    return sid, ordered


async def test_any_delivery_order_with_copies_ends_as_the_ordered_story(store: Store) -> None:
    """Random stories read in random orders with copies end with the link, port and open alerts of the story
    read in order."""
    rng = random.Random(38)
    for n in range(6):
        sid, ordered = await read_both_ways(store, story, n, rng, "CP-")
        got, want = await shown(store, sid), await shown(store, ordered)
        assert got["online"] == want["online"]
        assert [s for s, _ in got["port"]] == [s for s, _ in want["port"]]
        assert [a for a in got["alerts"] if a[1] != "resolved"] == [a for a in want["alerts"] if a[1] != "resolved"]


async def test_a_report_older_than_a_repeat_answered_from_memory_changes_nothing(store: Store) -> None:
    """The field case with the quiet path (ADR 0039): Available (stored), then Faulted and Available again; the
    repeat is read first and answered from memory (the row keeps the older `reported_at`), the fault after it."""
    from test_heard import with_memory
    from voltline_diagnostics.service_layer import heard

    dispatch, scope, ctx = with_memory(store, {})
    sid = "CP-QUIET"
    stored = [at(sid, 0, connected()), at(sid, 2, status("Available"))]
    fault, repeat = at(sid, 3, status("Faulted", "GroundFailure")), at(sid, 4, status("Available"))
    for batch in (stored, [repeat], [fault], [fault]):  # the fault's replayed copy too
        assert heard.would_be_quiet(ctx, batch[0]) is (batch[0] is repeat)
        async with scope(batch):
            for envelope in batch:
                await dispatch(envelope)
    seen = await shown(store, sid)
    assert [s for s, _ in seen["port"]] == ["Available"]
    assert seen["alerts"] == []

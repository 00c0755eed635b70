"""A station's link as auth shows it: the newest presence event wins, in whatever order and how often they are read
(ADR 0045). Pure rule (domain.sync.presence_applies) folded the way service_layer.presence applies it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from voltline_auth.domain.sync import StationSync, presence_applies

T0 = datetime(2026, 12, 6, 8, tzinfo=UTC)
Story = tuple[str, datetime, str]  # kind (connected, booted, disconnected), the gateway's time, instance


def read(events: list[tuple[int, Story]]) -> StationSync | None:
    """What auth ends with after reading these (event id, event) in this order; a repeated id is dropped (inbox)."""
    state: StationSync | None = None
    seen: set[int] = set()
    for event_id, (kind, at, instance) in events:
        if event_id in seen:
            continue
        seen.add(event_id)
        leaving = kind == "disconnected"
        if not presence_applies(state, at, leaving=leaving, gateway_instance=instance):
            continue
        state = state or StationSync("CP-1")
        if kind == "connected":
            state = replace(state, connected=True, gateway_instance=instance, presence_at=at)
        else:
            state = replace(state, connected=not leaving, presence_at=at)
    return state


@st.composite
def sessions(draw: st.DrawFn) -> list[Story]:
    """A station's connections on one gateway: connect, maybe a boot, and (but for the last, maybe) a disconnect."""
    story: list[Story] = []
    at = T0
    for n in range(draw(st.integers(1, 4))):
        for kind in ("connected", "booted", "disconnected"):
            if kind == "booted" and not draw(st.booleans()):
                continue
            at += timedelta(milliseconds=draw(st.integers(1, 5000)))
            story.append((kind, at, "gw-a"))
        if n == 0 and draw(st.booleans()):
            story.pop()  # still connected
            break
    return story


@given(sessions(), st.data())
def test_the_newest_event_wins_in_any_order_with_copies(story: list[Story], data: st.DataObject) -> None:
    ids = list(enumerate(story))
    copies = data.draw(st.lists(st.sampled_from(ids), max_size=len(ids)))
    delivered = data.draw(st.permutations(ids + copies))
    state = read(delivered)
    assert state is not None
    assert state.connected == (story[-1][0] != "disconnected")
    assert state.presence_at == story[-1][1]


def test_the_field_order_of_a_restarted_broker_leaves_the_station_disconnected() -> None:
    """Disconnect (resent by the producer to the new broker), then the spool's connect, boot and disconnect again."""
    connect = (0, ("connected", T0, "gw-a"))
    boot = (1, ("booted", T0 + timedelta(seconds=1), "gw-a"))
    leave = (2, ("disconnected", T0 + timedelta(seconds=4), "gw-a"))
    state = read([leave, connect, boot, leave])
    assert state is not None and state.connected is False


def test_a_disconnect_from_the_instance_the_station_left_does_not_undo_its_move() -> None:
    moved = read(
        [
            (0, ("connected", T0, "gw-a")),
            (1, ("connected", T0 + timedelta(seconds=2), "gw-b")),
            (2, ("disconnected", T0 + timedelta(seconds=3), "gw-a")),  # gw-a noticed later
        ]
    )
    assert moved is not None and moved.connected is True and moved.gateway_instance == "gw-b"


def test_an_older_connect_from_another_instance_does_not_take_the_station_back() -> None:
    state = read([(1, ("connected", T0 + timedelta(seconds=2), "gw-b")), (0, ("connected", T0, "gw-a"))])
    assert state is not None and state.gateway_instance == "gw-b"

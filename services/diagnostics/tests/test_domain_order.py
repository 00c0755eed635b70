"""The newest event wins (domain.status.newest): a station's link and a port's report, folded the way the status
handlers apply them, end as the newest event left them, in any delivery order and with copies (ADR 0038)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from voltline_diagnostics.domain.status import newest

T0 = datetime(2026, 12, 6, 8, tzinfo=UTC)


def read(events: list[tuple[int, tuple[str, datetime]]]) -> tuple[str, datetime] | None:
    """What is held after reading these (event id, (value, time)) in this order; a repeated id is dropped (inbox)."""
    held: tuple[str, datetime] | None = None
    seen: set[int] = set()
    for event_id, (value, at) in events:
        if event_id not in seen and newest(at, held[1] if held else None):
            held = (value, at)
        seen.add(event_id)
    return held


@st.composite
def stories(draw: st.DrawFn) -> list[tuple[str, datetime]]:
    """A station's connects and disconnects, or a port's reports (repeats included), at rising gateway times."""
    values = draw(st.lists(st.sampled_from(["connected", "disconnected", "Available", "Faulted"]), min_size=1))
    at, out = T0, []
    for value in values:
        at += timedelta(milliseconds=draw(st.integers(1, 5000)))
        out.append((value, at))
    return out


@given(stories(), st.data())
def test_the_newest_event_wins_in_any_order_with_copies(story: list[tuple[str, datetime]], data: st.DataObject) -> None:
    ids = list(enumerate(story))
    copies = data.draw(st.lists(st.sampled_from(ids), max_size=len(ids)))
    delivered = data.draw(st.permutations(ids + copies))
    assert read(delivered) == story[-1]


def test_an_event_of_the_same_time_applies_and_an_older_one_does_not() -> None:
    assert newest(T0, None)
    assert newest(T0, T0)
    assert not newest(T0 - timedelta(microseconds=1), T0)

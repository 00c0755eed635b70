"""The newest event wins (domain.status.newest): a station's link and a port's report, folded the way the status
handlers apply them, end as the newest event left them, in any delivery order and with copies (ADR 0038); so do
its boot answers (domain.registration); a late message ends `station_unresponsive` only when it is within the
station's silence limit of now (domain.status.heard_within)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from voltline_diagnostics.domain.registration import Registration
from voltline_diagnostics.domain.status import heard_within, newest

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


@st.composite
def boots(draw: st.DrawFn) -> list[tuple[str, datetime, int]]:
    """A station's boots, each answered or not (the gateway went away) at or after it, at rising times:
    ("boot", time, 0) and (status, time, interval)."""
    at, out = T0, []
    for _ in range(draw(st.integers(1, 6))):
        at += timedelta(milliseconds=draw(st.integers(1, 60_000)))
        out.append(("boot", at, 0))
        if draw(st.booleans()):
            at += timedelta(milliseconds=draw(st.integers(0, 500)))  # published after the boot's own event
            status = draw(st.sampled_from(["Accepted", "Pending", "Rejected"]))
            out.append((status, at, draw(st.sampled_from([0, 60, 300]))))
    return out


def registered(events: list[tuple[str, datetime, int]]) -> Registration:
    held = Registration()
    for kind, at, interval in events:
        held = held.booted(at) if kind == "boot" else held.answered(at, kind, interval)
    return held


@given(boots(), st.data())
def test_boot_answers_end_as_read_in_order_in_any_order_with_copies(
    story: list[tuple[str, datetime, int]], data: st.DataObject
) -> None:
    """No inbox here: a copy read again changes nothing either."""
    copies = data.draw(st.lists(st.sampled_from(story), max_size=len(story)))
    delivered = data.draw(st.permutations(story + copies))
    got, want = registered(delivered), registered(story)
    assert (got.last_boot_at, got.status, got.heartbeat_interval_s) == (
        want.last_boot_at,
        want.status,
        want.heartbeat_interval_s,
    )
    answers = [(kind, at) for kind, at, _ in story if kind != "boot"]
    last_boot = max(at for kind, at, _ in story if kind == "boot")
    newest_answer = answers[-1] if answers else None
    assert got.status == (newest_answer[0] if newest_answer and newest_answer[1] >= last_boot else None)


def test_an_older_boots_answer_read_after_a_newer_boot_is_not_its_status() -> None:
    newer_boot = Registration().booted(T0 + timedelta(seconds=60))
    assert newer_boot.answered(T0 + timedelta(seconds=1), "Accepted", 300) == Registration(
        T0 + timedelta(seconds=60), None, None, 300, T0 + timedelta(seconds=1)
    )  # its interval is still the newest Accepted one's


LIMIT = timedelta(seconds=600)


@given(st.lists(st.integers(-3000, 3000), min_size=1), st.integers(0, 3000), st.data())
def test_station_unresponsive_ends_only_at_a_message_within_its_limit_of_now(
    times: list[int], wait: int, data: st.DataObject
) -> None:
    """Last heard at T0, marked at T0 + 700 s (nothing within its 600 s limit), messages (s after T0) read at
    `wait` s after the mark in any order with copies: it ends iff one is within the limit of now, never at one
    heard before the silence that made it unresponsive (a replayed copy, an older message)."""
    now = T0 + timedelta(seconds=700 + wait)
    delivered = data.draw(st.permutations(times + data.draw(st.lists(st.sampled_from(times)))))
    unresponsive = True
    for seconds in delivered:
        unresponsive = unresponsive and not heard_within(T0 + timedelta(seconds=seconds), now, LIMIT)
    assert unresponsive == all(T0 + timedelta(seconds=s) < now - LIMIT for s in times)
    assert all(not heard_within(T0 + timedelta(seconds=s), now, LIMIT) for s in times if s <= 0)


def test_a_message_exactly_at_the_limit_of_now_ends_it_as_the_monitor_would_not_mark_it() -> None:
    assert heard_within(T0, T0 + LIMIT, LIMIT)
    assert not heard_within(T0, T0 + LIMIT + timedelta(microseconds=1), LIMIT)

"""A station's link and a port's status, as the projector keeps them (service_layer.projector over the pure
rule domain.translate.newest), end as the newest event left them, in any delivery order and with copies
(ADR 0038); no order opens an offline stretch after the newest event says connected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from voltline_analytics.domain.translate import PortStatus, Presence, newest
from voltline_analytics.service_layer.ports import ProjectionState
from voltline_analytics.service_layer.projector import _port_status, _presence

T0 = datetime(2026, 12, 6, 8, tzinfo=UTC)


@st.composite
def stories(draw: st.DrawFn) -> list[Presence | PortStatus]:
    """Connects, disconnects (repeats included: a reconnect whose disconnect was lost) and port reports."""
    at, out = T0, []
    for kind in draw(st.lists(st.sampled_from(["on", "off", "Available", "Charging", "Faulted"]), min_size=1)):
        at += timedelta(seconds=draw(st.integers(1, 600)))
        if kind in ("on", "off"):
            out.append(Presence("CP-1", kind == "on", at, "ocpp1.6"))
        else:
            out.append(PortStatus("CP-1", 1, 1, kind, None, at))
    return out


@given(stories(), st.data())
def test_the_newest_event_wins_in_any_order_with_copies(
    story: list[Presence | PortStatus], data: st.DataObject
) -> None:
    copies = data.draw(st.lists(st.sampled_from(story), max_size=len(story)))
    state = ProjectionState()
    for change in data.draw(st.permutations(story + copies)):
        if isinstance(change, Presence):
            _presence(state, change)
        else:
            _port_status(state, change)
    links = [c for c in story if isinstance(c, Presence)]
    reports = [c for c in story if isinstance(c, PortStatus)]
    if links:
        station = state.stations["CP-1"]
        assert station["connected"] == links[-1].connected
        assert station["presence_at"] == links[-1].at
        if links[-1].connected:  # online since no later than the newest connect: no offline stretch after it
            assert station["since"] <= links[-1].at
    if reports:
        port = state.ports[("CP-1", 1)]
        assert (port["ocpp_status"], port["reported_at"]) == (reports[-1].status, reports[-1].at)


def test_an_event_of_the_same_time_applies_and_an_older_one_does_not() -> None:
    assert newest(T0, None) and newest(T0, T0)
    assert not newest(T0 - timedelta(microseconds=1), T0)

"""The pure rules: status normalisation, silence, alert rules and lifecycle, uptime arithmetic, signatures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from voltline_diagnostics.domain.alerts import Alert, AlertStateError, Target, boot_loop, configure
from voltline_diagnostics.domain.silence import SilenceWatch
from voltline_diagnostics.domain.status import Silence, error_code, normalise, shown_status
from voltline_diagnostics.domain.uptime import down_together, uptime
from voltline_diagnostics.domain.webhooks import Backoff, Filter, signature, verify

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        ("Available", "Available"),
        ("Preparing", "Occupied"),
        ("Charging", "Occupied"),
        ("SuspendedEV", "Occupied"),
        ("SuspendedEVSE", "Occupied"),
        ("Finishing", "Occupied"),
        ("Occupied", "Occupied"),
        ("Reserved", "Reserved"),
        ("Unavailable", "Unavailable"),
        ("Faulted", "Faulted"),
        ("Bogus", "Unknown"),
    ],
)
def test_every_reported_status_has_one_normalised_meaning(reported: str, expected: str) -> None:
    assert normalise(reported) == expected


def test_offline_shows_unknown_and_no_error_is_null() -> None:
    assert shown_status("Faulted", online=False) == "Unknown"
    assert shown_status("Faulted", online=True) == "Faulted"
    assert (error_code("NoError"), error_code(None), error_code("GroundFailure")) == (None, None, "GroundFailure")


def test_silence_is_twice_the_heartbeat_but_never_under_the_minimum() -> None:
    silence = Silence(2.0, timedelta(seconds=120))
    assert silence.limit(300, 60) == timedelta(seconds=600)
    assert silence.limit(30, 60) == timedelta(seconds=120)
    assert silence.limit(None, 90) == timedelta(seconds=180)
    assert silence.unresponsive(online=True, last_seen_at=h(0), now=h(0.2), heartbeat_interval_s=300, default_s=300)
    assert not silence.unresponsive(online=False, last_seen_at=h(0), now=h(9), heartbeat_interval_s=300, default_s=1)


def test_the_silence_watch_hands_out_only_stations_past_their_deadline_once() -> None:
    watch = SilenceWatch()
    watch.heard("A", h(1))
    watch.heard("B", h(2))
    watch.heard("C", h(1))
    watch.heard("A", h(3))  # heard again: its deadline moves, its one entry is pushed again when it comes up
    watch.heard("D", h(1))
    watch.forget("D")  # went offline
    assert watch.due(h(0.5)) == []
    assert watch.due(h(1)) == ["C"]
    assert watch.due(h(1.5)) == []
    watch.heard("B", h(1.8))  # a shorter heartbeat: an earlier deadline counts
    assert watch.due(h(1.9)) == ["B"]
    assert watch.due(h(2.5)) == []
    assert sorted(watch.due(h(9))) == ["A"]
    assert len(watch) == 0 and watch.due(h(10)) == []
    watch.heard("D", h(11))  # heard again after it was forgotten or handed out: watched again
    assert watch.due(h(12)) == ["D"]


def test_rules_are_configurable_and_typos_are_refused() -> None:
    rules = configure({"station_offline": {"after_s": 600, "severity": "critical"}, "boot_loop": {"enabled": False}})
    assert (rules["station_offline"].after_s, rules["station_offline"].severity) == (600, "critical")
    assert rules["boot_loop"].enabled is False
    with pytest.raises(ValueError, match="unknown alert rule 'nope'"):
        configure({"nope": {}})
    with pytest.raises(ValueError, match="after_sec"):
        configure({"station_offline": {"after_sec": 1}})
    with pytest.raises(ValueError, match="severity"):
        configure({"station_offline": {"severity": "huge"}})


def test_boot_loop_needs_count_boots_within_the_window() -> None:
    rule = configure({})["boot_loop"]
    assert boot_loop([h(0), h(0.05), h(0.1)], rule)
    assert not boot_loop([h(0), h(0.1), h(0.5)], rule)
    assert not boot_loop([h(0), h(0.01)], rule)


def test_alert_lifecycle() -> None:
    alert = Alert("a1", "connector_faulted", "critical", Target("CP", 1, 1), "open", h(0))
    acked = alert.acknowledge("ops", h(1), "on it")
    assert (acked.status, acked.acknowledged_by, acked.note) == ("acknowledged", "ops", "on it")
    with pytest.raises(AlertStateError):
        acked.acknowledge("ops", h(2))
    done = acked.resolve(h(3))
    assert (done.status, done.resolved_at, done.resolved_by) == ("resolved", h(3), None)
    with pytest.raises(AlertStateError):
        done.resolve(h(4))
    assert Target("CP", 1, 1).key("x") != Target("CP", 1, 2).key("x") != Target("CP", 1, 1, "s").key("x")


def test_uptime_by_hand() -> None:
    # 100 h; faulted 10-12 h, offline 11-13 h (overlapping: one 3 h outage), excluded 12.5-20 h (0.5 h of it)
    result = uptime(h(0), h(100), [(h(10), h(12), "faulted"), (h(11), h(13), "offline")], [(h(12.5), h(20))])
    assert (result.period_s, result.outage_s, result.excluded_s) == (360000, 3 * 3600, 1800)
    assert result.uptime_percent == 97.5  # (100 - (3 - 0.5)) / 100
    assert [(o.start, o.end, o.reasons) for o in result.outages] == [(h(10), h(13), ("faulted", "offline"))]
    clipped = uptime(h(11), h(12), [(h(0), h(100), "offline")], [])
    assert clipped.uptime_percent == 0.0 and clipped.outage_s == 3600
    assert down_together([[(h(0), h(5))], [(h(3), h(8))]]) == [(h(3), h(5))]
    with pytest.raises(ValueError):
        uptime(h(1), h(1), [], [])


def test_signatures_and_filters_and_backoff() -> None:
    header = signature("s3cret-s3cret-s3cret", 1_700_000_000, b'{"a":1}')
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify("s3cret-s3cret-s3cret", header, b'{"a":1}')
    assert not verify("s3cret-s3cret-s3cret", header, b'{"a":2}')
    assert not verify("s3cret-s3cret-s3cret", "garbage", b"")
    wanted = Filter(frozenset({"connector_faulted"}), frozenset(), frozenset({"CP-1"}))
    assert wanted.matches("connector_faulted", "critical", "CP-1")
    assert not wanted.matches("station_offline", "major", "CP-1")
    assert not wanted.matches("connector_faulted", "critical", "CP-2")
    assert Filter().matches("anything", "info", "any")
    backoff = Backoff(timedelta(seconds=2), timedelta(seconds=10), 4)
    assert [backoff.delay(n).total_seconds() for n in (1, 2, 3, 4)] == [2, 4, 8, 10]
    assert backoff.gives_up(4) and not backoff.gives_up(3)


def test_every_metric_of_the_service_carries_the_voltline_prefix() -> None:
    import voltline_diagnostics.bootstrap  # noqa: F401  (imports every module that defines a metric)
    from voltline_chassis import metrics

    names = set(metrics._metrics)
    assert {"voltline_diagnostics_stations", "voltline_diagnostics_open_alerts"} <= names
    assert sorted(n for n in names if not n.startswith("voltline_")) == []

"""The dict translator of the replay's hot event types (domain/fast_translate.py) gives exactly what the
pydantic path gives, and refuses what the models refuse (so the worker dead-letters it)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from voltline_analytics.domain.fast_translate import FAST
from voltline_analytics.domain.translate import translate
from voltline_events import Envelope, decode_payload, envelope_for
from voltline_events.payloads import CdrCreated, ConnectorStatus, SessionEnded, SessionStarted
from voltline_events.payloads.sessions import EnergyReading, SessionPeriod

T = datetime(2026, 11, 2, 8, 40, tzinfo=UTC)


def _envelopes() -> list[Envelope]:
    ended = SessionEnded(session_id="S", station_id="CP", evse_id=2, connector_id=1, id_token="TAG",
                         started_at=T, ended_at=T.replace(hour=10), energy_wh=9000, peak_power_w=7400.5,
                         stop_reason="EVDisconnected", revision=2, ocpp_version="2.0.1",
                         periods=[SessionPeriod(state="charging", start=T, end=T.replace(hour=9)),
                                  SessionPeriod(state="idle", start=T.replace(hour=9), end=T.replace(hour=10))],
                         energy_timeline=[EnergyReading(at=T.replace(hour=9), energy_wh=6000)])  # fmt: skip
    payloads: list[Any] = [
        SessionStarted(session_id="S", station_id="CP", evse_id=2, connector_id=1, driver_id="D", started_at=T),
        ended,
        CdrCreated(
            cdr_id="C",
            session_id="S",
            station_id="CP",
            started_at=T,
            ended_at=T.replace(hour=10),
            currency="EUR",
            energy_kwh=Decimal("9.000"),
            total_excl_vat=Decimal("3.15"),
            total_vat=Decimal("0.60"),
            total_incl_vat=Decimal("3.75"),
            revision=3,
        ),
        ConnectorStatus(ocpp_version="ocpp1.6", connector_id=1, status="Charging", timestamp=T),
        ConnectorStatus(ocpp_version="ocpp2.0.1", evse_id=3, connector_id=1, status="Faulted", error_code="X"),
        ConnectorStatus(ocpp_version="ocpp1.6", connector_id=0, status="Available"),
    ]
    return [Envelope.from_bytes(envelope_for(p, source="t", station_id="CP").to_bytes()) for p in payloads]


@pytest.mark.parametrize("index", range(6))
def test_the_dict_path_equals_the_model_path(index: int) -> None:
    envelope = _envelopes()[index]
    fast = FAST[(envelope.type, envelope.schema_version)]
    assert fast(envelope.payload, {"station_id": envelope.station_id, "time": envelope.time}) == translate(
        envelope, decode_payload(envelope)
    )


@pytest.mark.parametrize(
    ("index", "field", "value"),
    [
        (1, "energy_wh", -1),
        (1, "ended_at", "yesterday"),
        (0, "session_id", None),
        (2, "total_excl_vat", "3,15"),
        (2, "currency", "EURO"),
        (3, "connector_id", 1.5),
        (3, "status", None),
        (4, "ocpp_version", "2.0.1"),
    ],
)
def test_what_the_model_refuses_the_dict_path_refuses(index: int, field: str, value: Any) -> None:
    envelope = _envelopes()[index]
    payload = {**envelope.payload, field: value}
    bad = envelope.model_copy(update={"payload": payload})
    with pytest.raises(ValidationError):
        decode_payload(bad)
    with pytest.raises((ValueError, TypeError, KeyError)):
        FAST[(bad.type, bad.schema_version)](payload, {"station_id": bad.station_id, "time": bad.time})


def test_a_recurring_timestamp_text_is_parsed_once_and_read_the_same() -> None:
    """Timestamps are memoised by their text (a session's recur in its start, end, periods, CDR and status):
    the memo gives the parse's instant, zones included, and what is not a string is still refused."""
    from voltline_analytics.domain import fast_translate

    texts = ["2026-11-02T08:40:00Z", "2026-11-02T09:40:00+01:00", "2026-11-02T08:40:00"]
    first = [fast_translate._time(t) for t in texts]
    assert first == [T, T, T] and all(t.tzinfo is UTC for t in first)
    assert all(t in fast_translate._times for t in texts)
    assert [fast_translate._time(t) for t in texts] == first
    with pytest.raises(TypeError):
        fast_translate._time(1_700_000_000)
    with pytest.raises(ValueError):
        fast_translate._time("2026-11-02 around nine")

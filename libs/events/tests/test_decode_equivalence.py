"""The consumer's decode (`Envelope.from_bytes`, `decode_payload`'s cached validators) against the reference
(`model_validate_json`, the registry's general path) on generated envelopes and payloads, valid and not (hypothesis)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from voltline_events import Envelope, UnknownEventError, decode_payload, registry

AT = "2026-12-06T06:49:24.690182Z"
SEEDS: dict[str, dict[str, Any]] = {
    "station.transaction": {
        "ocpp_version": "ocpp1.6",
        "kind": "updated",
        "transaction_id": "12",
        "timestamp": AT,
        "id_token": {"id_token": "TAG-1", "type": "ISO14443"},
        "seq_no": 3,
        "meter_values": [
            {
                "timestamp": AT,
                "values": [
                    {"value": "1234", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": "11000", "measurand": "Power.Active.Import", "unit": "W", "multiplier": 0},
                ],
            }
        ],
        "raw": {"transactionId": 12},
    },
    "station.connector_status": {"ocpp_version": "ocpp2.0.1", "timestamp": AT, "connector_id": 1, "status": "Charging"},
    "station.heartbeat": {"ocpp_version": "ocpp1.6"},
    "station.boot_notification": {"ocpp_version": "ocpp1.6", "vendor": "V", "model": "M", "raw": {}},
    "session.updated": {"session_id": "s1", "station_id": "CS-1", "energy_wh": 180, "power_w": 11000, "at": AT},
    "billing.cdr_created": {"cdr_id": "c1", "session_id": "s1", "total_cost": "1.23", "currency": "EUR"},
}
TRICKY: st.SearchStrategy[Any] = st.sampled_from(
    [
        AT,
        "2026-12-06T06:49:24",  # naive
        "2026-12-06T08:49:24+02:00",
        "2026-12-06",
        1764999999,
        "12",
        12,
        12.5,
        "12.50",
        "1e3",
        True,
        None,
        "",
        "x" * 300,
        [],
        {},
        "ocpp2.1",
        "started",
        "Accepted",
    ]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8) | TRICKY,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def mutated(draw: st.DrawFn, node: Any, depth: int = 0) -> Any:
    """A copy of `node` with some values replaced, dropped or added: often still valid, often not."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            roll = draw(st.integers(0, 9))
            if roll == 0:
                continue
            out[key] = draw(JSON) if roll == 1 else draw(TRICKY) if roll == 2 else draw(mutated(value, depth + 1))
        for key in draw(st.lists(st.text(max_size=12), max_size=2)):
            out[key] = draw(JSON)  # unknown fields are ignored by the contracts
        return out
    if isinstance(node, list):
        return [draw(mutated(item, depth + 1)) for item in node] + draw(st.lists(JSON, max_size=1))
    return node


def outcome(decode: Any, arg: Any) -> Any:
    """The value, or the exception's type and what it says, so that rejections compare too."""
    try:
        return "ok", decode(arg)
    except ValidationError as exc:
        return "invalid", exc.title, json.dumps(exc.errors(include_url=False), default=str)
    except (UnknownEventError, ValueError) as exc:
        return type(exc).__name__, str(exc)


def payloads() -> st.SearchStrategy[tuple[str, int, dict[str, Any]]]:
    kinds = sorted(registry.registered_events())
    seeded = st.sampled_from(sorted(SEEDS)).flatmap(lambda t: st.tuples(st.just(t), st.just(1), mutated(SEEDS[t])))
    anything = st.tuples(
        st.sampled_from([t for t, _ in kinds] + ["no.such.type"]),
        st.sampled_from([1, 1, 1, 2, 3]),
        st.dictionaries(st.text(max_size=12), JSON, max_size=4),
    )
    return seeded | anything


@settings(max_examples=400, deadline=None)
@given(payloads())
def test_decode_payload_equals_the_general_path(case: tuple[str, int, dict[str, Any]]) -> None:
    event_type, version, payload = case
    envelope = Envelope(type=event_type, schema_version=version, source="t", payload=payload)
    reference = outcome(registry._decode_payload, envelope)  # also fills the cache for a newest version
    assert outcome(decode_payload, envelope) == reference
    assert outcome(decode_payload, envelope) == reference


ENVELOPE_FIELDS = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["station.transaction", "station.heartbeat", ""]) | TRICKY,
        "schema_version": st.sampled_from([1, 2, 0, "1", 1.0, 1.5]),
        "source": st.sampled_from(["gw", "", "s" * 129]) | TRICKY,
        "payload": mutated(SEEDS["station.transaction"]) | JSON,
        # Given, not defaulted: the defaults (a new uuid4, now) differ between two decodes.
        "event_id": st.uuids().map(str) | st.uuids().map(lambda u: u.hex) | TRICKY,
        "time": TRICKY,
    },
    optional={
        "envelope_version": st.sampled_from([1, 2, 0, "1"]),
        "station_id": st.sampled_from(["CS-1", "c" * 49]) | TRICKY,
        "correlation_id": TRICKY,
        "traceparent": TRICKY,
        "extra_field": JSON,
    },
)


@settings(max_examples=400, deadline=None)
@given(ENVELOPE_FIELDS, st.sampled_from(["json", "truncated", "not json"]))
def test_from_bytes_equals_model_validate_json(fields: dict[str, Any], form: str) -> None:
    raw = json.dumps(fields).encode()
    raw = raw[: len(raw) // 2] if form == "truncated" else b"\xff" + raw if form == "not json" else raw
    reference = outcome(Envelope.model_validate_json, raw)
    assert outcome(Envelope.from_bytes, raw) == reference
    if reference[0] == "ok":
        assert reference[1].time.utcoffset() is not None


def test_current_events_take_the_cached_validators() -> None:
    envelope = Envelope(type="station.heartbeat", schema_version=1, source="t", payload=SEEDS["station.heartbeat"])
    decode_payload(envelope)
    assert ("station.heartbeat", 1) in registry._NEWEST

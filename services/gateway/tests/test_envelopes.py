"""The hot path's envelope bytes are what the bus library writes and every consumer reads."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest.mock import patch
from uuid import RFC_4122, UUID

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from voltline_events import Envelope, decode_payload, envelope_for
from voltline_events.payloads import ConnectorStatus, StationTransaction
from voltline_gateway.adapters.envelopes import encode, envelope_time, new_event_id
from voltline_gateway.domain.normalise import connector_status

EVENT = StationTransaction(
    ocpp_version="ocpp1.6",
    kind="updated",
    transaction_id="77",
    timestamp=datetime(2024, 5, 1, 8, 0, tzinfo=UTC),
    meter_values=[{"timestamp": "2024-05-01T08:00:00Z", "values": [{"value": "1.5", "unit": "kWh"}]}],  # type: ignore[list-item]
)


def test_encoded_envelope_equals_the_library_one_but_for_id_and_time() -> None:
    value, headers = encode(EVENT, source="gateway/x", station_id="CP-1", message_id="m-1")
    ours = Envelope.from_bytes(value)
    theirs = envelope_for(EVENT, source="gateway/x", station_id="CP-1", message_id="m-1")
    assert ours.model_dump(exclude={"event_id", "time"}) == theirs.model_dump(exclude={"event_id", "time"})
    assert decode_payload(ours) == EVENT
    assert abs((datetime.now(UTC) - ours.time).total_seconds()) < 5
    assert dict(headers) == {
        "event_type": b"station.transaction",
        "schema_version": b"1",
        "event_id": str(ours.event_id).encode(),
    }


def test_optional_envelope_fields_are_left_out_like_the_library_does() -> None:
    value, _ = encode(EVENT, source="gateway/x", station_id=None)
    assert b"message_id" not in value and b"station_id" not in value and b"null" not in value
    assert Envelope.from_bytes(value).station_id is None


def test_prepared_events_encode_to_what_their_model_reads() -> None:
    prepared = connector_status(
        "ocpp2.0.1",
        {"timestamp": "2024-05-01T08:00:00Z", "connectorStatus": "Occupied", "evseId": 1.0, "connectorId": 1},
    )
    value, headers = encode(prepared, source="gateway/x", station_id="CP-1")
    envelope = Envelope.from_bytes(value)
    assert envelope.type == "station.connector_status" and dict(headers)["event_type"] == b"station.connector_status"
    event = decode_payload(envelope)
    assert isinstance(event, ConnectorStatus) and event.evse_id == 1 and event.status == "Occupied"


def test_event_ids_are_distinct_version_4_uuids() -> None:
    ids = [new_event_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(UUID(i).version == 4 and UUID(i).variant == RFC_4122 and str(UUID(i)) == i for i in ids[:100])


def _as_dict_dump(value: bytes) -> bytes:
    """The envelope as the dict-based encoder wrote it: orjson.dumps of its fields in order, then the payload."""
    head, payload = value.split(b',"payload":', 1)
    fields = orjson.loads(head + b"}")
    return orjson.dumps(fields)[:-1] + b',"payload":' + payload


@settings(max_examples=300, deadline=None)
@given(
    station_id=st.none() | st.text(max_size=40),
    message_id=st.none() | st.text(min_size=1, max_size=36),
    source=st.text(min_size=1, max_size=30),
)
def test_the_envelope_head_is_what_orjson_writes_of_its_fields(
    station_id: str | None, message_id: str | None, source: str
) -> None:
    value, _ = encode(EVENT, source=source, station_id=station_id, message_id=message_id)
    assert value == _as_dict_dump(value)
    envelope = Envelope.from_bytes(value)
    assert (envelope.station_id, envelope.message_id, envelope.source) == (station_id, message_id, source)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=4_102_444_800 * 10**9))
def test_the_envelope_time_is_what_datetime_writes(ns: int) -> None:
    with patch("voltline_gateway.adapters.envelopes.time_ns", return_value=ns):
        written = envelope_time()
    expected = datetime.fromtimestamp(ns // 1000 // 10**6, UTC).replace(microsecond=ns // 1000 % 10**6)
    assert written == expected.isoformat().replace("+00:00", "Z")

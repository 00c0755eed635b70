"""A batch's connector status changes leave in a few `diagnostics.connector_statuses_changed` events (one per
partition of the events topic, keyed like each of their stations), and the live stream shows each change as a
`diagnostics.connector_status_changed` of its station."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from aiokafka.partitioner import DefaultPartitioner
from status_store import T0, Store
from voltline_diagnostics.adapters.status_batch import PrefetchingBatch
from voltline_diagnostics.entrypoints.api_stream import items, sse
from voltline_diagnostics.service_layer.context import CONSUMER
from voltline_events import Envelope, envelope_for, station_key
from voltline_events.payloads import ConnectorStatus
from voltline_store import TransactionBatch, outbox_table

PARTITIONS = 6


def report(sid: str, n: int, value: str) -> Envelope:
    event = ConnectorStatus(ocpp_version="ocpp1.6", connector_id=1, status=value, error_code="NoError")
    envelope = envelope_for(event, source="gateway/test", station_id=sid)
    return envelope.model_copy(update={"time": T0 + timedelta(seconds=n)})


async def test_a_batchs_changes_leave_in_one_event_per_partition_keyed_like_their_stations(store: Store) -> None:
    scope = PrefetchingBatch(TransactionBatch(store.sessions, inbox_consumer=CONSUMER), source="diagnostics/test")
    scope.partitions = PARTITIONS
    stations = [f"CP-G{i:02d}" for i in range(40)]
    batch = [report(sid, 1, "Available") for sid in stations] + [report(sid, 2, "Charging") for sid in stations]
    async with scope(batch):
        for envelope in batch:
            await store.dispatch(envelope)
    async with store.engine.connect() as conn:
        rows = (
            await conn.execute(sa.select(outbox_table.c.key, outbox_table.c.value).order_by(outbox_table.c.id))
        ).all()
    assert 1 < len(rows) <= PARTITIONS  # 80 changes of 40 stations
    partitioner, every = DefaultPartitioner(), list(range(PARTITIONS))
    seen: dict[str, list[str]] = {}
    for key, value in rows:
        envelope = Envelope.from_bytes(value)
        assert (envelope.type, envelope.station_id, envelope.source) == (
            "diagnostics.connector_statuses_changed",
            None,
            "diagnostics/test",
        )
        for change in envelope.payload["changes"]:
            assert partitioner(station_key(change["station_id"]), every, every) == partitioner(key, every, every)
            seen.setdefault(change["station_id"], []).append(change["status"])
    assert seen == {sid: ["Available", "Occupied"] for sid in stations}  # each once, in order


def test_the_stream_shows_each_change_of_a_group_as_its_stations_change() -> None:
    changes = [
        {"station_id": "CP-1", "evse_id": 1, "connector_id": 1, "status": "Faulted", "error_code": "GroundFailure"},
        {"station_id": "CP-2", "evse_id": 2, "connector_id": 1, "status": "Available", "since": "2026-12-05T06:00Z"},
    ]
    envelope = Envelope(
        type="diagnostics.connector_statuses_changed", schema_version=1, source="t", payload={"changes": changes}
    )
    streamed = items(envelope)
    assert [(i.type, i.station_id, i.event_id) for i in streamed] == [
        ("diagnostics.connector_status_changed", "CP-1", f"{envelope.event_id}-0"),
        ("diagnostics.connector_status_changed", "CP-2", f"{envelope.event_id}-1"),
    ]
    text = sse(streamed[0]).decode()
    assert text.startswith(f"id: {envelope.event_id}-0\nevent: diagnostics.connector_status_changed\ndata: ")
    assert '"station_id": "CP-1"' in text and '"error_code": "GroundFailure"' in text

"""A fetch's partitions handled in lanes (one batch transaction per lane, VOLTLINE_CONSUMER_BATCH_LANES), and the
lanes pipelined (VOLTLINE_CONSUMER_PIPELINE_PARTITIONS, ADR 0031): every station's events in order, its alerts
deduplicated, over real Kafka and PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from diagnostics_testing import ADMIN, RunningDiagnostics, eventually, run_service
from voltline_bus import Outgoing
from voltline_events import envelope_for, station_key
from voltline_events.payloads import ConnectorStatus, StationConnected

# A test here waits up to 300 s for the backlog, and the first and last also start and stop the service: pytest's
# 300 s for the whole item ran out in the teardown on a loaded machine.
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(600)]

# Per station: a fault reported twice (one alert, two occurrences), a recovery, and for every other station a
# second fault with another code at the end (a second alert, still open).
SEQUENCE = [("Available", None), ("Faulted", "GroundFailure"), ("Faulted", "GroundFailure"), ("Available", None)]
SECOND_FAULT = ("Faulted", "OverCurrentFailure")


def _status(sid: str, status: str, code: str | None) -> Any:
    event = ConnectorStatus(ocpp_version="ocpp1.6", connector_id=1, status=status, error_code=code or "NoError")
    return envelope_for(event, source="gateway/test", station_id=sid)


# Pipelined: each station's port goes through this many changes, the fault in the middle (one alert).
_FREE, _BUSY, _FAULT = ("Available", None), ("Occupied", None), ("Faulted", "GroundFailure")
LONG = [_FREE, _BUSY] * 3 + [_FAULT, _FAULT] + [_FREE, _BUSY] * 3


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pipelined(kafka: Any, postgres: Any) -> AsyncIterator[RunningDiagnostics]:
    """The service with its two lanes pipelined, and polls of at most 5 records: every partition goes through
    many polls, each started while the other lane's batch is in flight."""
    database = str(postgres.create_database(f"diagnostics_{secrets.token_hex(4)}"))
    async for running in run_service(
        kafka, database, consumer_pipeline_partitions=True, consumer_batch_size=5, inventory_on_first_boot=False
    ):
        yield running


async def test_stations_spread_over_partitions_keep_their_order_and_one_alert_per_fault(
    service: RunningDiagnostics,
) -> None:
    assert service.settings.consumer_batch_lanes == 2
    stations = [f"LANE-{i:02d}" for i in range(24)]
    await _play_and_check(
        service, {sid: SEQUENCE + ([SECOND_FAULT] if i % 2 else []) for i, sid in enumerate(stations)}
    )


async def test_pipelined_lanes_keep_every_stations_order_and_one_alert_per_fault(
    pipelined: RunningDiagnostics,
) -> None:
    """Fails if a partition's records are handled by two tasks at once, or a later poll's before an earlier's."""
    assert pipelined.settings.consumer_batch_lanes == 2
    stations = [f"PIPE-{i:02d}" for i in range(24)]
    await _play_and_check(pipelined, {sid: LONG + ([SECOND_FAULT] if i % 2 else []) for i, sid in enumerate(stations)})


async def _play_and_check(service: RunningDiagnostics, expected: dict[str, list[tuple[str, str | None]]]) -> None:
    """Every station's events published interleaved; then its history is its events' changes in order, its
    repeated fault one (resolved) alert, and a last different fault a second, open one."""
    stations = list(expected)
    topic = service.topics.station_events
    connected = StationConnected(ocpp_version="ocpp1.6", gateway_instance="test")
    outgoing = [
        Outgoing(topic, envelope_for(connected, source="gateway/test", station_id=s), station_key(s)) for s in stations
    ]
    for step in range(max(map(len, expected.values()))):  # interleaved: every station's n-th event, then the next
        for sid in stations:
            if step < len(expected[sid]):
                outgoing.append(Outgoing(topic, _status(sid, *expected[sid][step]), station_key(sid)))
    await service.producer.publish_many(outgoing)

    async def history(sid: str) -> list[tuple[str, str | None]] | None:
        r = await service.api.get(f"/api/v1/stations/{sid}/history", headers=ADMIN)
        items = r.json()["items"] if r.status_code == 200 else []
        return [(h["status"], h["error_code"]) for h in items] or None

    for sid in stations:
        wanted = [step for n, step in enumerate(expected[sid]) if n == 0 or step != expected[sid][n - 1]]
        # The first station's wait is the whole backlog's (every station's last event is near its end): minutes
        # on a loaded machine. A history out of order never settles: the last one seen is in the failure.
        await eventually(
            lambda sid=sid: history(sid),
            ok=lambda seen, wanted=wanted: seen == wanted,
            within=300,
            what=f"{sid}'s history in the order of its events",
        )
        alerts = sorted(await service.alerts(sid, rule="connector_faulted"), key=lambda a: a["opened_at"])
        codes = [(a["status"], a["detail"]["error_code"], a["detail"]["occurrences"]) for a in alerts]
        if expected[sid][-1] == SECOND_FAULT:
            assert codes == [("resolved", "GroundFailure", 2), ("open", "OverCurrentFailure", 1)], sid
        else:
            assert codes == [("resolved", "GroundFailure", 2)], sid

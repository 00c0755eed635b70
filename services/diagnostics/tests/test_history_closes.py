"""A port's open status interval is closed by its start (the port's `since`), not by "the one with no end":
the intervals are the same as before for repeats, duplicates and messages that arrive late, in batches and one
event at a time, and on PostgreSQL the close is a HOT update (no index names `ended_at`, migration 0020), as is
the rewrite of a port's live row (no index on its `status`, migration 0021)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from status_store import T0, Store
from voltline_diagnostics.adapters.health_tables import status_history
from voltline_events import Envelope, envelope_for
from voltline_events.payloads import ConnectorStatus, StationConnected


def at(sid: str, n: int, event: Any) -> Envelope:
    return envelope_for(event, source="gateway/test", station_id=sid).model_copy(
        update={"time": T0 + timedelta(seconds=n)}
    )


def status(sid: str, n: int, value: str, code: str = "NoError") -> Envelope:
    return at(sid, n, ConnectorStatus(ocpp_version="ocpp1.6", connector_id=1, status=value, error_code=code))


def batches(sid: str) -> list[list[Envelope]]:
    """Each list one batch, so most closes hit an interval a previous batch stored."""
    late_fault = status(sid, 20, "Faulted", "GroundFailure")
    return [
        [at(sid, 0, StationConnected(ocpp_version="ocpp1.6", gateway_instance="gw")), status(sid, 10, "Available")],
        [status(sid, 30, "Charging")],
        [late_fault],  # from before the Charging one (delivered late): older than the port's report, dropped
        [late_fault, status(sid, 40, "Faulted", "GroundFailure")],  # the same event again; then a newer fault
        [status(sid, 50, "Available"), status(sid, 60, "Preparing"), status(sid, 70, "Available")],  # one batch
        [status(sid, 80, "Faulted", "GroundFailure")],
    ]


EXPECTED = [  # (status, started, ended) in seconds from T0; the late fault changes nothing (ADR 0038)
    ("Available", 10, 30),
    ("Occupied", 30, 40),
    ("Faulted", 40, 50),
    ("Available", 50, 60),
    ("Occupied", 60, 70),
    ("Available", 70, 80),
    ("Faulted", 80, None),
]


async def history(engine: Any, sid: str) -> list[tuple[str, int, int | None]]:
    h = status_history.c
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(h.status, h.started_at, h.ended_at).where(h.station_id == sid).order_by(h.id)
        )
    return [
        (s, int((start - T0).total_seconds()), None if end is None else int((end - T0).total_seconds()))
        for s, start, end in rows
    ]


async def test_late_repeated_and_duplicate_reports_leave_the_same_intervals(store: Store) -> None:
    for batch in batches("CP-BATCHES"):
        async with store.scope(batch):
            for envelope in batch:
                await store.dispatch(envelope)
    for batch in batches("CP-ONE-BY-ONE"):
        for envelope in batch:
            await store.dispatch(envelope)
    assert await history(store.engine, "CP-BATCHES") == EXPECTED
    assert await history(store.engine, "CP-ONE-BY-ONE") == EXPECTED


async def test_closing_an_interval_is_a_hot_update_on_postgresql(pg_store: Store) -> None:
    """No index of the history names `ended_at`, so the close stays on the row's page and adds no index entry
    (with the partial index on open intervals of migration 0019 every close was a new entry in every index)."""
    from voltline_diagnostics.adapters import status_batch_pg

    sid = "CP-HOT"
    first = [status(sid, 10, "Available")]
    async with pg_store.scope(first):
        await pg_store.dispatch(first[0])
    async with pg_store.sessions() as session, session.begin():
        pg = await status_batch_pg.driver(session)
        start = T0 + timedelta(seconds=10)
        await pg.executemany(status_batch_pg.CLOSE_STATUS, [(sid, 1, 1, T0 + timedelta(seconds=20), start)])
        counts = await _this_transactions_updates(pg, "health_status_history")
    assert (counts["updated"], counts["hot"]) == (1, 1)


async def test_rewriting_a_ports_row_is_a_hot_update_on_postgresql(pg_store: Store) -> None:
    """No index of the live ports names `status` (migration 0021): a change rewrites the row on its page."""
    from voltline_diagnostics.adapters import status_batch_pg
    from voltline_diagnostics.adapters.status_rows import CONNECTOR_FIELDS

    sid = "CP-HOT-PORT"
    first = [status(sid, 10, "Available")]
    async with pg_store.scope(first):
        await pg_store.dispatch(first[0])
    async with pg_store.sessions() as session, session.begin():
        pg = await status_batch_pg.driver(session)
        row = await pg.fetchrow("SELECT * FROM health_connectors WHERE station_id = $1", sid)
        values = {**dict(row), "status": "Faulted", "ocpp_status": "Faulted", "error_code": "GroundFailure"}
        await pg.executemany(status_batch_pg.UPDATE_PORT, [[values[f] for f in CONNECTOR_FIELDS]])
        counts = await _this_transactions_updates(pg, "health_connectors")
    assert (counts["updated"], counts["hot"]) == (1, 1)


async def test_station_touches_are_hot_updates_on_postgresql(pg_store: Store) -> None:
    """A station's row is touched (`last_seen_at`) by nearly every batch that hears it: in pages packed full
    (the default) a touch finds no room on its page and moves the row, with a new entry in each index; with
    pages filled to 80 % (migration 0021) it stays on its page (HOT). A tenth of 2,000 stations touched once:
    what fits in the room left, whatever pruning a loaded server manages."""
    from voltline_diagnostics.adapters import status_batch_pg

    totals = (
        "SELECT s.n_tup_upd + pg_stat_get_xact_tuples_updated(s.relid) AS updated,"
        " s.n_tup_hot_upd + pg_stat_get_xact_tuples_hot_updated(s.relid) AS hot"
        " FROM pg_stat_user_tables s WHERE s.relname = 'health_stations'"
    )  # reported to the statistics, plus what this backend has not reported yet
    async with pg_store.engine.connect() as conn:  # one backend for every transaction below
        pg = (await conn.get_raw_connection()).driver_connection
        await pg.execute(
            "INSERT INTO health_stations (station_id, online, since, last_seen_at, ocpp_version, unresponsive,"
            " unused_authorizations, updated_at) SELECT 'CP-T' || i, true, now(), now(), 'ocpp1.6', false, 0, now()"
            " FROM generate_series(1, 2000) i"
        )
        for batch in range(4):  # batches of 50, each its own transaction
            at = T0 + timedelta(seconds=batch)
            ids = [f"CP-T{10 * (batch * 50 + n) + 1}" for n in range(50)]
            async with pg.transaction():
                await pg.executemany(status_batch_pg.TOUCH_STATION, [(sid, at, at) for sid in ids])
        await pg.execute("SELECT pg_stat_clear_snapshot()")
        counts = await pg.fetchrow(totals)
    assert (counts["updated"], counts["hot"]) == (200, 200)


async def _this_transactions_updates(pg: Any, table: str) -> Any:
    """The rows of `table` this transaction updated, and how many of them were HOT updates."""
    return await pg.fetchrow(
        "SELECT pg_stat_get_xact_tuples_updated(c.oid) AS updated,"
        " pg_stat_get_xact_tuples_hot_updated(c.oid) AS hot"
        " FROM pg_class c WHERE c.relname = $1",
        table,
    )

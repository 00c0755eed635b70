"""PostgreSQL: a status batch's reads and writes as the driver's own statements (asyncpg), not SQLAlchemy's.

At thousands of status events a second SQLAlchemy's per-row work was most of the batch's cost: compiling the
bulk statements, processing every parameter of every row (`UTCDateTime` binds and results, JSON), building a
`Row` and a mapping per row read. These statements are fixed texts (asyncpg prepares each once per
connection) run on the batch's own connection inside its transaction: the reads with one array parameter,
every write as one `executemany` of plain tuples. SQLite keeps the SQLAlchemy path (status_batch.py).

Values go in as the table stores them: aware datetimes for `timestamptz`, JSON columns as JSON text
(`null` for None, as SQLAlchemy's JSON type writes it); read back, JSON comes decoded by the json codec that
SQLAlchemy's asyncpg dialect installs on every connection it opens.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from voltline_diagnostics.adapters.status_rows import CONNECTOR_FIELDS, STATION_FIELDS, ConnectorRow, StationRow

_JSON_AT = [i for i, name in enumerate(STATION_FIELDS) if name in ("modem", "meter")]  # JSON columns
_S_COLS = ", ".join(STATION_FIELDS)
_C_COLS = ", ".join(CONNECTOR_FIELDS)

# The JSON columns come back as text, SQL NULL for JSON `null` (what nearly every station has): the json codec
# SQLAlchemy's dialect puts on the connection decoded two `null`s per station read, in Python, every batch.
_S_READ = ", ".join(f"NULLIF({n}::text, 'null') AS {n}" if n in ("modem", "meter") else n for n in STATION_FIELDS)
SELECT_STATIONS = f"SELECT {_S_READ} FROM health_stations WHERE station_id = ANY($1::varchar[]) FOR UPDATE"
SELECT_PORTS = f"SELECT {_C_COLS} FROM health_connectors WHERE station_id = ANY($1::varchar[])"


def _placeholders(count: int, start: int = 1) -> str:
    return ", ".join(f"${i}" for i in range(start, start + count))


INSERT_STATION = (
    f"INSERT INTO health_stations ({_S_COLS}, updated_at) VALUES ({_placeholders(len(STATION_FIELDS) + 1)})"
)
UPDATE_STATION = (
    "UPDATE health_stations SET "
    + ", ".join(f"{name} = ${i}" for i, name in enumerate(STATION_FIELDS[1:], start=2))
    + f", updated_at = ${len(STATION_FIELDS) + 1} WHERE station_id = $1"
)
TOUCH_STATION = "UPDATE health_stations SET last_seen_at = $2, updated_at = $3 WHERE station_id = $1"
INSERT_PORT = f"INSERT INTO health_connectors ({_C_COLS}) VALUES ({_placeholders(len(CONNECTOR_FIELDS))})"
UPDATE_PORT = (
    "UPDATE health_connectors SET "
    + ", ".join(f"{name} = ${i}" for i, name in enumerate(CONNECTOR_FIELDS[3:], start=4))
    + " WHERE station_id = $1 AND evse_id = $2 AND connector_id = $3"
)
STATUS_COLUMNS = ("station_id", "evse_id", "connector_id", "status", "ocpp_status", "error_code", "started_at")
# The open interval by its start (the port's `since`): one entry of the port index, and no index names `ended_at`,
# so the close is a HOT update (migration 0020).
CLOSE_STATUS = (
    "UPDATE health_status_history SET ended_at = $4"
    " WHERE station_id = $1 AND evse_id = $2 AND connector_id = $3 AND started_at = $5 AND ended_at IS NULL"
)
INSERT_STATUS = (
    f"INSERT INTO health_status_history ({', '.join(STATUS_COLUMNS)}, ended_at)"
    f" VALUES ({_placeholders(len(STATUS_COLUMNS) + 1)})"
)
CLOSE_PRESENCE = "UPDATE health_presence_history SET ended_at = $2 WHERE station_id = $1 AND ended_at IS NULL"
INSERT_PRESENCE = (
    "INSERT INTO health_presence_history (station_id, online, started_at, ended_at) VALUES ($1, $2, $3, $4)"
)
INSERT_OUTBOX = "INSERT INTO outbox (topic, key, value, event_id, created_at) VALUES ($1, $2, $3, $4, $5)"


async def driver(session: AsyncSession) -> Any:
    """The asyncpg connection under `session`, inside its transaction (begun here if nothing ran yet)."""
    connection = await session.connection()
    raw: Any = (await connection.get_raw_connection()).driver_connection
    if not raw.is_in_transaction():  # SQLAlchemy begins its transaction with its first statement
        await connection.exec_driver_sql("SELECT 1")
    return raw


# The reads are planned for their array's values every time (a custom plan, ~0.2 ms), not once for all. The
# connection's prepared statement otherwise settles on a generic plan after five runs, and a store created
# empty (a new deployment, the bench's database) planned it while the tables were empty: a sequential scan
# testing every row against the whole array, kept until an ANALYZE invalidates it. At 10,000 stations that
# was 46-63 ms of server CPU per read, two reads per batch, most of PostgreSQL's time at 5,000 status events/s.
# With the values known the planner takes the primary key (or hashes the array). Only these two statements:
# the per-row writes of `write` keep their generic plans (a custom plan per row would cost more than it saves).
CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"
CACHED_PLANS = "SET LOCAL plan_cache_mode = auto"


async def read(session: AsyncSession, station_ids: Sequence[str]) -> tuple[list[StationRow], list[ConnectorRow]]:
    """The stations (locked) and their connectors: two statements, each planned for its values."""
    pg = await driver(session)
    await pg.execute(CUSTOM_PLANS)  # for this transaction only (and undone below); a failed read aborts it
    found = [_station(r) for r in await pg.fetch(SELECT_STATIONS, list(station_ids))]
    ports = [ConnectorRow(*r) for r in await pg.fetch(SELECT_PORTS, list(station_ids))]
    await pg.execute(CACHED_PLANS)
    return found, ports


def _station(record: Any) -> StationRow:
    values = list(record)
    for i in _JSON_AT:  # read as text (SELECT_STATIONS): decoded here, only when not null
        if isinstance(values[i], str):
            values[i] = json.loads(values[i])
    return StationRow(*values)


station_fields = attrgetter(*STATION_FIELDS)
"""A station row's stored fields as a tuple, in column order (the snapshot `split_touched` compares with)."""
_SEEN_AT = STATION_FIELDS.index("last_seen_at")


def split_touched(
    changed: Sequence[StationRow], loaded: Mapping[str, tuple[Any, ...]]
) -> tuple[list[StationRow], list[StationRow]]:
    """(stations to rewrite whole, stations whose only change since they were read is `last_seen_at`).

    Under a stream of status changes nearly every station of a batch was heard a second or more after its
    last write, and that alone: its whole row (twenty columns, two of them JSON text) was encoded, sent and
    rewritten for one timestamp. The batch's rows are locked from their read to its commit, so the stored
    row still equals the snapshot and writing the one column leaves the same row."""
    whole: list[StationRow] = []
    touched: list[StationRow] = []
    for station in changed:
        before = loaded.get(station.station_id)
        now = station_fields(station)
        if before is not None and now[:_SEEN_AT] == before[:_SEEN_AT] and now[_SEEN_AT + 1 :] == before[_SEEN_AT + 1 :]:
            touched.append(station)
        else:
            whole.append(station)
    return whole, touched


def station_values(station: StationRow) -> list[Any]:
    values = [getattr(station, name) for name in STATION_FIELDS]
    for i in _JSON_AT:
        values[i] = json.dumps(values[i])
    return values


async def write(
    session: AsyncSession,
    *,
    now: datetime,
    new_stations: list[StationRow],
    changed_stations: list[StationRow],
    touched_stations: Sequence[StationRow] = (),
    new_ports: list[ConnectorRow],
    changed_ports: list[ConnectorRow],
    close_status: list[tuple[str, int, int, datetime, datetime]],
    status_rows: list[dict[str, Any]],
    close_presence: list[tuple[str, datetime]],
    presence_rows: list[dict[str, Any]],
    outbox_rows: list[dict[str, Any]],
) -> None:
    """Every write of the batch, one `executemany` per kind (in the order the SQLAlchemy path has);
    `touched_stations` changed only their `last_seen_at` (`split_touched`)."""
    pg = await driver(session)
    if new_stations:
        await pg.executemany(INSERT_STATION, [[*station_values(s), now] for s in new_stations])
    if changed_stations:
        await pg.executemany(UPDATE_STATION, [[*station_values(s), now] for s in changed_stations])
    if touched_stations:
        await pg.executemany(TOUCH_STATION, [(s.station_id, s.last_seen_at, now) for s in touched_stations])
    if new_ports:
        await pg.executemany(INSERT_PORT, [[getattr(c, f) for f in CONNECTOR_FIELDS] for c in new_ports])
    if changed_ports:
        await pg.executemany(UPDATE_PORT, [[getattr(c, f) for f in CONNECTOR_FIELDS] for c in changed_ports])
    if close_status:
        await pg.executemany(CLOSE_STATUS, close_status)
    if status_rows:
        await pg.executemany(INSERT_STATUS, [[*(r[k] for k in STATUS_COLUMNS), r["ended_at"]] for r in status_rows])
    if close_presence:
        await pg.executemany(CLOSE_PRESENCE, close_presence)
    if presence_rows:
        presence = [(r["station_id"], r["online"], r["started_at"], r["ended_at"]) for r in presence_rows]
        await pg.executemany(INSERT_PRESENCE, presence)
    if outbox_rows:
        outbox = [(r["topic"], r["key"], r["value"], r["event_id"], r["created_at"]) for r in outbox_rows]
        await pg.executemany(INSERT_OUTBOX, outbox)

"""PostgreSQL: a status batch's reads and writes as the driver's own statements (asyncpg), not SQLAlchemy's.

At thousands of status events a second SQLAlchemy's per-row work was most of the batch's cost: compiling the
bulk statements, processing every parameter of every row (`UTCDateTime` binds and results, JSON), building a
`Row` and a mapping per row read. These statements are fixed texts (asyncpg prepares each once per
connection) run on the batch's own connection inside its transaction: the reads with one array parameter,
the writes of a stream of status changes as one statement over array parameters (WRITE_CHANGES), the rare
writes as one `executemany` of plain tuples each. SQLite keeps the SQLAlchemy path (status_batch.py).

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
CLOSE_STATUS = (
    "UPDATE health_status_history SET ended_at = $4"
    " WHERE station_id = $1 AND evse_id = $2 AND connector_id = $3 AND ended_at IS NULL"
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

_PORT_TYPES = {
    "station_id": "varchar",
    "evse_id": "int",
    "connector_id": "int",
    "ocpp_status": "varchar",
    "status": "varchar",
    "error_code": "varchar",
    "vendor_error_code": "varchar",
    "info": "varchar",
    "since": "timestamptz",
    "reported_at": "timestamptz",
    "short_sessions": "int",
}
_STATUS_TYPES = ("varchar", "int", "int", "varchar", "varchar", "varchar", "timestamptz", "timestamptz")
_OUTBOX_TYPES = ("varchar", "bytea", "bytea", "uuid", "timestamptz")


def _unnest(types: Sequence[str], start: int) -> str:
    return "unnest(" + ", ".join(f"${start + i}::{t}[]" for i, t in enumerate(types)) + ")"


def _changes_sql() -> str:
    """The writes of a stream of status changes as one statement of data-modifying CTEs over array parameters:
    stations heard (`last_seen_at`), connectors changed, history intervals closed and opened, outbox rows. One
    text whatever the batch (empty arrays write nothing); one round trip instead of five; and the server runs
    five set-based statements instead of one execution per row (an executemany's), most of its CPU per event.
    The CTEs see one snapshot: the intervals closed are those stored before the batch, as when the close ran
    before the insert; each row is written once (the batch's lists have one entry per station, port, interval)."""
    port_cols = list(CONNECTOR_FIELDS)
    n = 2
    touched = (
        f"touched AS (UPDATE health_stations AS s SET last_seen_at = t.last_seen_at, updated_at = $1"
        f" FROM {_unnest(('varchar', 'timestamptz'), n)} AS t(station_id, last_seen_at)"
        " WHERE s.station_id = t.station_id)"
    )
    n += 2
    ports = (
        "ports AS (UPDATE health_connectors AS c SET "
        + ", ".join(f"{c} = p.{c}" for c in port_cols[3:])
        + f" FROM {_unnest([_PORT_TYPES[c] for c in port_cols], n)} AS p({', '.join(port_cols)})"
        " WHERE c.station_id = p.station_id AND c.evse_id = p.evse_id AND c.connector_id = p.connector_id)"
    )
    n += len(port_cols)
    closed = (
        "closed AS (UPDATE health_status_history AS h SET ended_at = x.ended_at"
        f" FROM {_unnest(('varchar', 'int', 'int', 'timestamptz'), n)}"
        " AS x(station_id, evse_id, connector_id, ended_at)"
        " WHERE h.station_id = x.station_id AND h.evse_id = x.evse_id AND h.connector_id = x.connector_id"
        " AND h.ended_at IS NULL)"
    )
    n += 4
    columns = ", ".join((*STATUS_COLUMNS, "ended_at"))
    opened = (
        f"opened AS (INSERT INTO health_status_history ({columns}) SELECT {columns}"
        f" FROM {_unnest(_STATUS_TYPES, n)} WITH ORDINALITY AS o({columns}, n) ORDER BY n)"
    )
    n += len(_STATUS_TYPES)
    events = (
        "events AS (INSERT INTO outbox (topic, key, value, event_id, created_at)"
        " SELECT topic, key, value, event_id, created_at"
        f" FROM {_unnest(_OUTBOX_TYPES, n)} WITH ORDINALITY AS o(topic, key, value, event_id, created_at, n)"
        " ORDER BY n)"
    )
    return f"WITH {touched}, {ports}, {closed}, {opened}, {events} SELECT 1"


WRITE_CHANGES = _changes_sql()


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows as one list per column (the array parameters of WRITE_CHANGES)."""
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


async def driver(session: AsyncSession) -> Any:
    """The asyncpg connection under `session`, inside its transaction (begun here if nothing ran yet)."""
    connection = await session.connection()
    raw: Any = (await connection.get_raw_connection()).driver_connection
    if not raw.is_in_transaction():  # SQLAlchemy begins its transaction with its first statement
        await connection.exec_driver_sql("SELECT 1")
    return raw


async def read(session: AsyncSession, station_ids: Sequence[str]) -> tuple[list[StationRow], list[ConnectorRow]]:
    """The stations (locked) and their connectors: two statements."""
    pg = await driver(session)
    found = [_station(r) for r in await pg.fetch(SELECT_STATIONS, list(station_ids))]
    ports = [ConnectorRow(*r) for r in await pg.fetch(SELECT_PORTS, list(station_ids))]
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
    close_status: list[tuple[str, int, int, datetime]],
    status_rows: list[dict[str, Any]],
    close_presence: list[tuple[str, datetime]],
    presence_rows: list[dict[str, Any]],
    outbox_rows: list[dict[str, Any]],
) -> None:
    """Every write of the batch: the rare kinds (new stations and ports, whole station rows, presence) one
    `executemany` each; the writes of a stream of status changes (`touched_stations`, which changed only their
    `last_seen_at`, changed ports, history intervals, outbox rows) one statement, WRITE_CHANGES."""
    pg = await driver(session)
    if new_stations:
        await pg.executemany(INSERT_STATION, [[*station_values(s), now] for s in new_stations])
    if changed_stations:
        await pg.executemany(UPDATE_STATION, [[*station_values(s), now] for s in changed_stations])
    if new_ports:
        await pg.executemany(INSERT_PORT, [[getattr(c, f) for f in CONNECTOR_FIELDS] for c in new_ports])
    if close_presence:
        await pg.executemany(CLOSE_PRESENCE, close_presence)
    if presence_rows:
        presence = [(r["station_id"], r["online"], r["started_at"], r["ended_at"]) for r in presence_rows]
        await pg.executemany(INSERT_PRESENCE, presence)
    if touched_stations or changed_ports or close_status or status_rows or outbox_rows:
        port_of = attrgetter(*CONNECTOR_FIELDS)
        await pg.execute(
            WRITE_CHANGES,
            now,
            *_columns([(s.station_id, s.last_seen_at) for s in touched_stations], 2),
            *_columns([port_of(c) for c in changed_ports], len(CONNECTOR_FIELDS)),
            *_columns(close_status, 4),
            *_columns([[*(r[k] for k in STATUS_COLUMNS), r["ended_at"]] for r in status_rows], len(_STATUS_TYPES)),
            *_columns([(r["topic"], r["key"], r["value"], r["event_id"], r["created_at"]) for r in outbox_rows], 5),
        )

"""Applies a batch of events to the analytics store in one transaction: facts, contributions, buckets, state.

The rules (watermarks, which fact wins, outages and occupied stretches) are here; reading and writing the
store is the `ProjectionStore` port's (`adapters/projection_store.py` over SQL, wired by the consumers).

Idempotent without an inbox: a fact replaces the stored fact of the same key unless that one ranks higher,
and buckets are recomputed from contributions, so redelivery, revisions and replays give the same figures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from voltline_events import Envelope, UnknownEventError, decode_payload

from voltline_analytics.domain.facts import Fact, OccupiedFact, OutageFact, SessionFact
from voltline_analytics.domain.fast_translate import FAST
from voltline_analytics.domain.measures import Contribution
from voltline_analytics.domain.translate import (
    EVENT_TYPES,
    Change,
    PortStatus,
    Presence,
    Reference,
    Timed,
    newest,
    translate,
)
from voltline_analytics.service_layer.ports import ProjectionState, ProjectionStore

log = structlog.get_logger()
FAULTED = "Faulted"
# OCPP 1.6 ChargePointStatus and 2.0.1 ConnectorStatusEnumType values in which a vehicle occupies the port.
OCCUPIED = frozenset({"Occupied", "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing"})
FUTURE_TOLERANCE = timedelta(days=1)  # a station clock further ahead than this does not move the watermark


@dataclass
class Outcome:
    applied: int = 0
    late: int = 0
    skipped: int = 0
    max_event_time: datetime | None = None


_State = ProjectionState  # its old name


def relevant(envelope: Envelope) -> bool:
    return envelope.type in EVENT_TYPES


class Prepared(list[Envelope]):
    """A batch of envelopes with the work that depends on nothing stored done ahead: each one's translation and
    its fact's contributions. A worker prepares the next batch while the store writes this one (the database
    server and the worker then work at the same time); `project` takes a plain list as well."""

    def __init__(self, envelopes: Sequence[Envelope]) -> None:
        super().__init__(envelopes)
        self.changes: list[Change | BaseException | None] = []
        self.contributions: dict[int, list[Contribution]] = {}  # id(fact) -> its contributions

    def add(self, more: Prepared) -> None:
        """Append another prepared batch (the envelopes that follow these)."""
        self.extend(more)
        self.changes.extend(more.changes)
        self.contributions.update(more.contributions)


def _translate(envelope: Envelope) -> Change | None:
    if envelope.type not in EVENT_TYPES:
        return None
    fast = FAST.get((envelope.type, envelope.schema_version))
    try:
        if fast is not None:  # the replay's bulk: no pydantic model (domain/fast_translate.py)
            return fast(envelope.payload, {"station_id": envelope.station_id, "time": envelope.time})
        return translate(envelope, decode_payload(envelope))
    except UnknownEventError:
        return None


async def prepare(envelopes: Sequence[Envelope], step: int = 250) -> Prepared:
    """Translate `envelopes` and compute their facts' contributions, yielding to the event loop every `step`
    events (so a batch being written meanwhile is not held up). A translation that fails is kept and raised
    when the batch is applied, exactly as if it had failed then."""
    batch = Prepared(envelopes)
    changes, contributions = batch.changes, batch.contributions
    for i, envelope in enumerate(envelopes):
        try:
            change: Change | BaseException | None = _translate(envelope)
        except Exception as exc:
            change = exc
        changes.append(change)
        if isinstance(change, Timed):
            contributions[id(change.fact)] = change.fact.contributions()
        if i % step == step - 1:
            await asyncio.sleep(0)
    return batch


async def project(store: ProjectionStore, envelopes: Sequence[Envelope], lateness: timedelta) -> Outcome:
    """Apply `envelopes` (in log order) to `store`, inside the caller's transaction."""
    outcome = Outcome()
    changes = []
    prepared = envelopes if isinstance(envelopes, Prepared) else None
    for i, envelope in enumerate(envelopes):
        if not relevant(envelope):
            outcome.skipped += 1
            continue
        if prepared is None:
            change = _translate(envelope)
        else:
            ready = prepared.changes[i]
            if isinstance(ready, BaseException):
                raise ready
            change = ready
        if change is None:
            outcome.skipped += 1
        else:
            changes.append((envelope, change))
    if not changes:
        return outcome
    state = await store.load_state([c for _, c in changes])
    facts: dict[str, Fact] = {}
    late_rows: list[dict[str, Any]] = []
    references: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
    for envelope, change in changes:
        if isinstance(change, Reference):
            references.setdefault(change.table, {})[change.key] = change.row
        elif isinstance(change, Timed):
            key = (change.stream, change.fact.station_id)
            mark = state.watermarks.get(key)
            if mark is not None and change.event_time < mark - lateness:
                late_rows.append(_late_row(envelope, change, mark))
                continue
            if change.event_time <= envelope.time + FUTURE_TOLERANCE and (mark is None or change.event_time > mark):
                state.watermarks[key] = change.event_time
                state.dirty_watermarks.add(key)
            _keep(facts, change.fact)
            if isinstance(change.fact, SessionFact) and change.fact.evse_id:
                _port(state, change.fact.station_id, change.fact.evse_id)
            if outcome.max_event_time is None or change.event_time > outcome.max_event_time:
                outcome.max_event_time = change.event_time
        elif isinstance(change, Presence):
            outage = _presence(state, change)
            if outage is not None:
                _keep(facts, outage)
        else:
            for closed in _port_status(state, change):
                _keep(facts, closed)
    outcome.late = len(late_rows)
    outcome.applied = len(changes) - outcome.late
    await store.store_facts(list(facts.values()), prepared.contributions if prepared is not None else None)
    await store.save_state(state, late_rows)
    for table, rows in references.items():
        await store.replace(table, rows)
    return outcome


def _keep(facts: dict[str, Fact], fact: Fact) -> None:
    held = facts.get(fact.key)
    if held is None or fact.rank >= held.rank:
        facts[fact.key] = fact


def _late_row(envelope: Envelope, change: Timed, mark: datetime) -> dict[str, Any]:
    log.warning("late_event", event_type=envelope.type, station_id=change.fact.station_id,
                event_time=change.event_time.isoformat(), watermark=mark.isoformat())  # fmt: skip
    return {
        "event_id": str(envelope.event_id),
        "stream": change.stream,
        "station_id": change.fact.station_id,
        "event_type": envelope.type,
        "event_time": change.event_time,
        "watermark": mark,
        "envelope": envelope.model_dump(mode="json"),
    }


def _presence(state: _State, change: Presence) -> OutageFact | None:
    """Track connected/disconnected by the newest event (not the last read); a reconnection closes the offline
    stretch before it."""
    row = state.stations.get(change.station_id)
    state.dirty_stations.add(change.station_id)
    if row is None:
        state.stations[change.station_id] = {"station_id": change.station_id, "first_seen_at": change.at,
                                             "connected": change.connected, "since": change.at,
                                             "ocpp_version": change.ocpp_version,
                                             "presence_at": change.at}  # fmt: skip
        return None
    if not newest(change.at, row["presence_at"] or row["since"]):
        row["ocpp_version"] = row["ocpp_version"] or change.ocpp_version
        return None
    if change.ocpp_version:
        row["ocpp_version"] = change.ocpp_version
    row["presence_at"] = change.at
    if row["connected"] == change.connected:
        return None
    outage = None
    if change.connected:
        outage = OutageFact(change.station_id, "offline", None, row["since"], change.at)
    row["connected"], row["since"] = change.connected, change.at
    return outage


def _port(state: _State, station_id: str, evse_id: int) -> dict[str, Any]:
    key = (station_id, evse_id)
    if key not in state.ports:
        state.ports[key] = {"station_id": station_id, "evse_id": evse_id, "connector_id": None,
                            "ocpp_status": None, "error_code": None, "since": None,
                            "occupied_since": None, "reported_at": None}  # fmt: skip
        state.dirty_ports.add(key)
    return state.ports[key]


def _port_status(state: _State, change: PortStatus) -> list[OutageFact | OccupiedFact]:
    """Track each port's status; leaving Faulted closes a fault outage of that port, leaving the occupied
    statuses closes an occupied stretch (status-based utilisation)."""
    row = _port(state, change.station_id, change.evse_id)
    if not newest(change.at, row["reported_at"] or row["since"]):
        return []
    row["reported_at"] = change.at
    closed: list[OutageFact | OccupiedFact] = []
    if row["ocpp_status"] == FAULTED and change.status != FAULTED:
        closed.append(
            OutageFact(change.station_id, "fault", change.evse_id, row["since"], change.at, row["error_code"])
        )
    occupied_since = row.get("occupied_since")
    if change.status in OCCUPIED and occupied_since is None:
        row["occupied_since"] = change.at
    elif change.status not in OCCUPIED and occupied_since is not None:
        if change.at > occupied_since:
            closed.append(OccupiedFact(change.station_id, change.evse_id, occupied_since, change.at))
        row["occupied_since"] = None
    if row["ocpp_status"] != change.status or row["since"] is None:
        row["since"] = change.at
    row.update(connector_id=change.connector_id, ocpp_status=change.status, error_code=change.error_code)
    state.dirty_ports.add((change.station_id, change.evse_id))
    return closed

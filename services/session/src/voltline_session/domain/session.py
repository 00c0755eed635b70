"""The charging session: one model for 1.6 transactions and 2.x TransactionEvents.

A session is the merge of every fact its station sent about one transaction, whatever the order they
arrived in. Merging is idempotent (the same fact twice changes nothing) and order-independent for the
fields that matter: the start is the Started message's timestamp, the end the Ended message's; who and
where come from the Started message, else fill in once from the first message that tells (a 2.x Ended
may carry the token that stopped the session, which is not the one that started it).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from voltline_session.domain.energy import EnergyResult
from voltline_session.domain.meter import as_utc

Status = Literal["active", "completed"]
CLOSED_BY_OPERATOR = "ClosedByOperator"
# Endings voltline decides itself when the station will never end a session (docs/sessions.md, "Ending reasons").
STATION_REBOOTED = "StationRebooted"
CONNECTOR_REUSED = "ConnectorReused"
UNKNOWN_TO_STATION = "UnknownToStation"
UNCONFIRMED = "Unconfirmed"
NOT_AUTHORIZED = "NotAuthorized"
CSMS = "voltline"
# Why a session is in doubt (checked with the station, then ended unless it speaks of it).
DOUBT_REBOOTED = "rebooted"
DOUBT_SILENT = "silent"
MAX_PROBLEMS = 20


class IdTokenLike(Protocol):
    @property
    def id_token(self) -> str: ...

    @property
    def type(self) -> str: ...


class TransactionLike(Protocol):
    """What a station said about a transaction (voltline_events' StationTransaction fits)."""

    @property
    def ocpp_version(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def transaction_id(self) -> str: ...

    @property
    def timestamp(self) -> datetime: ...

    @property
    def evse_id(self) -> int | None: ...

    @property
    def connector_id(self) -> int | None: ...

    @property
    def seq_no(self) -> int | None: ...

    @property
    def trigger_reason(self) -> str | None: ...

    @property
    def offline(self) -> bool: ...

    @property
    def stop_reason(self) -> str | None: ...

    @property
    def remote_start_id(self) -> int | None: ...

    @property
    def meter_start_wh(self) -> int | None: ...

    @property
    def meter_stop_wh(self) -> int | None: ...

    @property
    def id_token(self) -> IdTokenLike | None: ...

    @property
    def driver_id(self) -> str | None: ...


@dataclass(frozen=True)
class MeterStats:
    power_w: float | None = None
    peak_power_w: float | None = None
    soc_percent: float | None = None
    soc_start_percent: float | None = None
    last_reading_at: datetime | None = None
    first_reading_at: datetime | None = None


@dataclass(frozen=True)
class Session:
    session_id: str
    station_id: str
    transaction_id: str
    ocpp_version: str
    started_at: datetime
    created_at: datetime
    updated_at: datetime
    last_event_at: datetime
    evse_id: int | None = None
    connector_id: int | None = None
    id_token: str | None = None
    id_token_type: str | None = None
    driver_id: str | None = None
    status: Status = "active"
    start_seen: bool = False
    end_seen: bool = False
    ended_at: datetime | None = None
    stop_reason: str | None = None
    trigger_reason: str | None = None
    remote_start_id: int | None = None
    reported_meter_start_wh: int | None = None
    reported_meter_stop_wh: int | None = None
    meter_start_wh: int | None = None
    meter_stop_wh: int | None = None
    energy_wh: int = 0
    power_w: float | None = None
    peak_power_w: float | None = None
    soc_percent: float | None = None
    soc_start_percent: float | None = None
    charging_state: str | None = None
    offline: bool = False
    reconciled: bool = False
    suspect: bool = False
    suspect_since: datetime | None = None
    anomalies: tuple[str, ...] = field(default_factory=tuple)
    problems: tuple[str, ...] = field(default_factory=tuple)
    last_reading_at: datetime | None = None
    revision: int = 0
    ended_hash: str | None = None
    last_update_published_at: datetime | None = None
    remote_stop_requested_at: datetime | None = None
    closed_by: str | None = None
    close_reason: str | None = None
    start_seq_no: int | None = None
    end_seq_no: int | None = None
    end_recorded_at: datetime | None = None
    heard_at: datetime | None = None  # our clock: the last message of this transaction
    doubt: str | None = None  # rebooted | silent: to be confirmed by the station, else ended
    doubt_since: datetime | None = None
    checked_at: datetime | None = None  # when the station was asked about it
    # Running meter totals (domain.tally, as JSON): new readings fold in without reading the old ones.
    meter_tally: dict[str, Any] | None = field(default=None, hash=False)

    @property
    def bay(self) -> int:
        """The station's charging point this session uses: the EVSE (2.x) or the connector (1.6)."""
        return bay_of(self.ocpp_version, self.evse_id, self.connector_id)

    @property
    def active(self) -> bool:
        return self.status == "active"

    def evolve(self, **changes: Any) -> Session:
        """`dataclasses.replace` for the hot path: a copy without re-running `__init__` over ~50 fields (every
        recompute makes several). Only field names are accepted (checked: a typo must not add an attribute)."""
        if not _SESSION_FIELDS.issuperset(changes):
            raise TypeError(f"Session has no field(s) {sorted(changes.keys() - _SESSION_FIELDS)}")
        return _with(self, changes)

    @classmethod
    def from_fields(cls, values: dict[str, Any]) -> Session:
        """A session from every one of its fields (a stored row), without `__init__`'s ~50 frozen sets."""
        if values.keys() != _SESSION_FIELDS:
            raise TypeError(f"Session fields differ: {sorted(values.keys() ^ _SESSION_FIELDS)}")
        new = object.__new__(cls)
        new.__dict__.update(values)
        return new

    def with_problems(self, found: list[str]) -> Session:
        """Remember what was wrong with the station's data (bounded: a broken meter repeats itself)."""
        if not found and not self.problems:
            return self  # the common case: nothing wrong, then or now
        merged = tuple(dict.fromkeys((*self.problems, *found)))[:MAX_PROBLEMS]
        return self if merged == self.problems else replace(self, problems=merged)


def bay_of(ocpp_version: str, evse_id: int | None, connector_id: int | None) -> int:
    """1.6 knows only connectors; 2.x charges per EVSE (one connector of it at a time)."""
    first, second = (connector_id, evse_id) if ocpp_version == "ocpp1.6" else (evse_id, connector_id)
    if first is not None:
        return first
    return second if second is not None else 0


def open_session(session_id: str, station_id: str, tx: TransactionLike, now: datetime) -> Session:
    """A session seen for the first time, from whichever of its messages arrived first."""
    at = as_utc(tx.timestamp)
    session = Session(
        session_id=session_id,
        station_id=station_id,
        transaction_id=tx.transaction_id,
        ocpp_version=tx.ocpp_version,
        started_at=at,
        created_at=now,
        updated_at=now,
        last_event_at=at,
        reconciled=tx.kind == "ended",
    )
    return merge(session, tx, now)


def merge(session: Session, tx: TransactionLike, now: datetime) -> Session:
    """Fold one transaction message into the session (idempotent; the start's own fields win)."""
    at = as_utc(tx.timestamp)
    token = tx.id_token
    changes: dict[str, object] = {
        "evse_id": session.evse_id if session.evse_id is not None else tx.evse_id,
        "connector_id": session.connector_id if session.connector_id is not None else tx.connector_id,
        "id_token": session.id_token or (token.id_token if token else None),
        "id_token_type": session.id_token_type or (token.type if token else None),
        "remote_start_id": session.remote_start_id if session.remote_start_id is not None else tx.remote_start_id,
        "offline": session.offline or tx.offline,
        "updated_at": now,
        # The station still speaks of this transaction: whatever doubt there was is cleared.
        "heard_at": now,
        "doubt": None,
        "doubt_since": None,
        "checked_at": None,
    }
    if at >= session.last_event_at:
        changes["last_event_at"] = at
        changes["trigger_reason"] = tx.trigger_reason or session.trigger_reason
    if tx.kind == "started":
        first_start = not session.start_seen or at < session.started_at
        changes.update(start_seen=True, reconciled=False)
        if first_start:
            changes["started_at"] = at
            # What the start says about who and where beats what other messages said before it arrived.
            if token is not None:
                changes.update(id_token=token.id_token, id_token_type=token.type)
            for name in ("evse_id", "connector_id", "remote_start_id"):
                if getattr(tx, name) is not None:
                    changes[name] = getattr(tx, name)
            if tx.seq_no is not None:
                changes["start_seq_no"] = tx.seq_no
        if tx.meter_start_wh is not None and (first_start or session.reported_meter_start_wh is None):
            changes["reported_meter_start_wh"] = tx.meter_start_wh
    elif not session.start_seen and at < session.started_at:
        changes["started_at"] = at  # the start was not seen yet: the earliest thing known stands in for it
    if tx.kind == "ended":
        first_end = not session.end_seen or (session.ended_at is not None and at < session.ended_at)
        if first_end:
            # Both 1.6 and 2.x define an absent stop reason as Local.
            changes.update(ended_at=at, stop_reason=tx.stop_reason or "Local")
            if tx.meter_stop_wh is not None:
                changes["reported_meter_stop_wh"] = tx.meter_stop_wh
            if tx.seq_no is not None:
                changes["end_seq_no"] = tx.seq_no
        changes.update(end_seen=True, status="completed", suspect=False, suspect_since=None)
        if session.end_recorded_at is None:
            changes["end_recorded_at"] = now
    changes["driver_id"] = _driver(session, tx, changes["id_token"])
    return _with(session, changes)


def goes_on(session: Session, tx: TransactionLike) -> bool:
    """Whether `merge` would take nothing from `tx` but that the transaction goes on (no token, place, remote
    start, offline flag, start or end news): what it changes is then `went_on`'s (a property test checks it)."""
    return (
        tx.kind == "updated"
        and tx.id_token is None
        and (tx.evse_id is None or session.evse_id is not None)
        and (tx.connector_id is None or session.connector_id is not None)
        and (tx.remote_start_id is None or session.remote_start_id is not None)
        and (not tx.offline or session.offline)
        and session.start_seen
    )


def newest(last_event_at: datetime, trigger_reason: str | None, tx: TransactionLike) -> tuple[datetime, str | None]:
    """The session's newest message time and trigger after `tx` (as `merge` keeps them)."""
    at = as_utc(tx.timestamp)
    return (at, tx.trigger_reason or trigger_reason) if at >= last_event_at else (last_event_at, trigger_reason)


def went_on(session: Session, now: datetime, last_event_at: datetime, trigger_reason: str | None) -> Session:
    """`merge` of messages that `goes_on` says only tell that the transaction goes on (their newest time and
    trigger from `newest`): heard now, no doubt left. One copy of the session for any number of them."""
    return _with(
        session,
        {
            "updated_at": now,
            "heard_at": now,
            "doubt": None,
            "doubt_since": None,
            "checked_at": None,
            "last_event_at": last_event_at,
            "trigger_reason": trigger_reason,
        },
    )


_SESSION_FIELDS = frozenset(f.name for f in fields(Session))


def _with(session: Session, changes: dict[str, object]) -> Session:
    """`dataclasses.replace` without re-running `__init__` over ~50 fields: merge runs for every message of a
    flood (Session has no `__post_init__`, and `changes` names only its fields)."""
    new = object.__new__(Session)
    new.__dict__.update(session.__dict__)
    new.__dict__.update(changes)
    return new


def _driver(session: Session, tx: TransactionLike, id_token: object) -> str | None:
    """The driver of the session's token (ADR 0024): a driver already known (a remote start's) stays; a message
    names it only for the session's own token (a stop by another card does not change whose session it is),
    except when the start arrives late and its token becomes the session's."""
    token = tx.id_token
    if token is None or token.id_token != id_token:
        return session.driver_id
    if id_token != session.id_token:  # the start's token replaces what an earlier message (a stop) said
        return tx.driver_id or session.driver_id
    return session.driver_id or tx.driver_id


def measured(session: Session, energy: EnergyResult, stats: MeterStats) -> Session:
    """The session with what its readings say now (recomputed from all of them every time)."""
    started_at = session.started_at
    if not session.start_seen and stats.first_reading_at is not None and stats.first_reading_at < started_at:
        started_at = stats.first_reading_at
    anomalies = list(energy.anomalies)
    if session.problems:
        anomalies.append("meter_values_unusable")
    if not session.start_seen:
        anomalies.append("start_not_seen")
    return session.evolve(
        anomalies=tuple(anomalies),
        started_at=started_at,
        meter_start_wh=energy.meter_start_wh,
        meter_stop_wh=energy.meter_stop_wh,
        energy_wh=energy.energy_wh,
        power_w=stats.power_w if session.active else None,
        peak_power_w=stats.peak_power_w,
        soc_percent=stats.soc_percent,
        soc_start_percent=stats.soc_start_percent,
        last_reading_at=stats.last_reading_at,
    )


def close_by_operator(session: Session, *, by: str, reason: str | None, now: datetime) -> Session:
    """End a session the station will not end (it went silent); the station's own end still wins later."""
    return end_by_csms(session, reason=CLOSED_BY_OPERATOR, by=by, detail=reason, now=now)


def end_by_csms(session: Session, *, reason: str, detail: str | None, now: datetime, by: str = CSMS) -> Session:
    """End a session the station will never end, at its last known reading (the station's own end still wins)."""
    ended_at = max(session.last_event_at, session.last_reading_at or session.started_at, session.started_at)
    return replace(
        session,
        status="completed",
        ended_at=ended_at,
        stop_reason=reason,
        closed_by=by,
        close_reason=detail[:255] if detail else None,
        suspect=False,
        suspect_since=None,
        doubt=None,
        doubt_since=None,
        updated_at=now,
        end_recorded_at=now,
    )


def confirmed(session: Session, now: datetime) -> Session:
    """The station says the transaction is still going on: no more doubt."""
    return replace(session, heard_at=now, doubt=None, doubt_since=None, checked_at=None)


def ended_by(session: Session) -> str:
    """'station', 'operator:<name>' or 'voltline', for the API and session.ended."""
    if session.end_seen or session.closed_by is None:
        return "station"
    return session.closed_by if session.closed_by == CSMS else f"operator:{session.closed_by}"


def superseded(older: Session, newer: Session) -> bool:
    """A new transaction on the same bay ends an older active one: a bay charges one transaction at a time."""
    return (
        older.active
        and older.session_id != newer.session_id
        and older.bay == newer.bay
        and older.started_at < newer.started_at
    )


def missing_messages(session: Session, seen: set[int]) -> list[int]:
    """2.x seqNos between the start's and the end's that have not arrived (yet).

    Only for stations that number each transaction's messages from 0, as 2.0.1 asks; with a station-wide
    counter other transactions' numbers fill the gaps, so nothing can be said.
    """
    if session.start_seq_no != 0 or session.end_seq_no is None:
        return []
    return [n for n in range(session.start_seq_no, session.end_seq_no + 1) if n not in seen]


def ready_to_announce_end(session: Session, missing: list[int], now: datetime, grace: timedelta) -> bool:
    """Whether the end can go to billing now, or the rest of an offline backlog is probably still coming.

    1.6 sends a transaction's messages in order (its stop cannot overtake its start), and an operator's close
    is final until the station speaks. A 2.x end waits until its start and every seqNo in between arrived,
    but never longer than `grace`.
    """
    if session.ocpp_version == "ocpp1.6" or not session.end_seen or session.end_recorded_at is None:
        return True
    return (session.start_seen and not missing) or now - session.end_recorded_at >= grace

"""In-memory fakes of the session store (service_layer.ports), and a SessionContext wired to them.

They follow the SQL repositories as far as the use cases can tell (the unique keys that drop a resent
reading or seqNo, the filters and orderings, a remote start linked once); the real-store tests
(test_lifecycle, test_endings, test_remote, test_batch_equivalence, ...) stay as the integration tests of
the adapters and the consumer batches. Outside a consumer batch the use cases never fold (`batch_memo`
is None), which is the one-by-one behaviour test_batch_equivalence proves the batches equal.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Collection, Hashable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from voltline_devinfra.fakes import FakeClock, FakeStore, FakeUnitOfWork
from voltline_events import Topics
from voltline_session.domain.meter import Reading
from voltline_session.domain.periods import Observation
from voltline_session.domain.session import Session
from voltline_session.domain.stations import RemoteStart, StationState
from voltline_session.service_layer.context import SessionContext
from voltline_session.service_layer.ports import SessionFilter
from voltline_session.service_layer.remote import CommandAnswer, Decision, GatewayUnanswered

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def empty_tables() -> dict[str, Any]:
    return {"sessions": {}, "seq_nos": set(), "readings": {}, "states": {}, "stations": {}, "remote_starts": {}}


class FakeSessions:
    def __init__(self, t: dict[str, Any]) -> None:
        self._rows: dict[str, Session] = t["sessions"]
        self._seq: set[tuple[str, int]] = t["seq_nos"]
        self._stations: dict[str, StationState] = t["stations"]

    def _where(self, keep: Callable[[Session], bool], limit: int | None = None) -> list[Session]:
        return [s for s in self._rows.values() if keep(s)][:limit]

    def _update(self, found: list[Session], **changes: Any) -> int:
        for s in found:
            self._rows[s.session_id] = replace(s, **changes)
        return len(found)

    async def get(self, session_id: str, *, for_update: bool = False) -> Session | None:
        return self._rows.get(session_id)

    async def by_transaction(self, station_id: str, transaction_id: str) -> Session | None:
        found = self._where(lambda s: (s.station_id, s.transaction_id) == (station_id, transaction_id))
        return found[0] if found else None

    async def add(self, s: Session) -> None:
        if s.session_id in self._rows or await self.by_transaction(s.station_id, s.transaction_id):
            raise KeyError(f"duplicate session {s.session_id} ({s.station_id}, {s.transaction_id})")
        self._rows[s.session_id] = s

    async def save(self, s: Session) -> None:
        if s.session_id in self._rows:
            self._rows[s.session_id] = s

    async def save_many(self, saved: Sequence[Session]) -> None:
        for s in saved:
            await self.save(s)

    async def list(self, where: SessionFilter, *, limit: int, offset: int) -> list[Session]:
        def keep(s: Session) -> bool:
            pairs = [
                (s.station_id, where.station_id),
                (s.status, where.status),
                (s.driver_id, where.driver_id),
                (s.id_token, where.id_token),
                (s.suspect, where.suspect),
            ]
            if where.driver_or_id_token is not None:
                driver_id, token = where.driver_or_id_token
                mine = s.driver_id == driver_id or (
                    s.driver_id is None and token is not None and (s.id_token or "").upper() == token.upper()
                )
                if not mine:
                    return False
            return (
                all(wanted is None or value == wanted for value, wanted in pairs)
                and (where.started_from is None or s.started_at >= where.started_from)
                and (where.started_to is None or s.started_at < where.started_to)
            )

        found = sorted(self._where(keep), key=lambda s: s.session_id)
        found.sort(key=lambda s: s.started_at, reverse=True)
        return found[offset : offset + limit]

    async def covering(self, station_id: str, bay: int, at: datetime, lookback: timedelta) -> list[Session]:
        return self._where(
            lambda s: (
                (s.station_id, s.bay) == (station_id, bay)
                and s.started_at <= at + lookback
                and (s.ended_at is None or s.ended_at > at)
            )
        )

    async def first_seq(self, session_id: str, seq_no: int) -> bool:
        if (session_id, seq_no) in self._seq:
            return False
        self._seq.add((session_id, seq_no))
        return True

    async def first_seq_of_new(self, session_id: str, seq_no: int) -> None:
        await self.first_seq(session_id, seq_no)

    async def seen_seq_nos(self, session_id: str) -> set[int]:
        return {n for sid, n in self._seq if sid == session_id}

    async def prefetch_seq_nos(self, session_ids: Collection[str]) -> None:
        return None

    async def unannounced_ends(self, recorded_before: datetime, limit: int = 100) -> list[Session]:
        return self._where(
            lambda s: (
                s.status == "completed"
                and s.revision == 0
                and s.end_recorded_at is not None
                and s.end_recorded_at < recorded_before
            ),
            limit,
        )

    async def mark_suspect(self, silent_since: datetime, now: datetime) -> int:
        silent = {sid for sid, st in self._stations.items() if st.last_seen_at < silent_since}
        found = self._where(lambda s: s.active and not s.suspect and s.station_id in silent)
        return self._update(found, suspect=True, suspect_since=now)

    async def clear_suspect(self, station_id: str) -> None:
        self._update(self._where(lambda s: s.station_id == station_id and s.suspect), suspect=False, suspect_since=None)

    async def count_active(self) -> int:
        return len(self._where(lambda s: s.active))

    async def active_on_bay(self, station_id: str, bay: int) -> list[Session]:
        return self._where(lambda s: (s.station_id, s.bay) == (station_id, bay) and s.active)

    async def mark_rebooted(self, station_id: str, now: datetime) -> int:
        found = self._where(lambda s: s.station_id == station_id and s.active)
        return self._update(found, doubt="rebooted", doubt_since=now, checked_at=None)

    async def mark_silent(self, heard_before: datetime, now: datetime) -> int:
        def silent(s: Session) -> bool:
            heard = s.heard_at if s.heard_at is not None else s.updated_at
            return s.active and s.doubt is None and heard < heard_before

        return self._update(self._where(silent), doubt="silent", doubt_since=now, checked_at=None)

    async def unchecked_doubts(self, now: datetime, limit: int) -> list[Session]:
        found = self._where(lambda s: s.active and s.doubt is not None and s.checked_at is None, limit)
        self._update(found, checked_at=now)
        return found

    async def expired_doubts(self, doubted_before: datetime, limit: int) -> list[Session]:
        return self._where(
            lambda s: s.active and s.doubt is not None and s.doubt_since is not None and s.doubt_since < doubted_before,
            limit,
        )


class FakeReadings:
    def __init__(self, t: dict[str, Any]) -> None:
        self._rows: dict[tuple[str, str, datetime], Reading] = t["readings"]

    async def add(self, session_id: str, readings: Sequence[Reading]) -> None:
        for r in readings:
            self._rows.setdefault((session_id, r.measurand, r.at), r)

    async def for_session(self, session_id: str) -> list[Reading]:
        found = [r for (sid, _, _), r in self._rows.items() if sid == session_id]
        return sorted(found, key=lambda r: (r.at, r.measurand))

    async def prefetch(self, session_ids: Collection[str]) -> None:
        return None


class FakeStates:
    def __init__(self, t: dict[str, Any]) -> None:
        self._rows: dict[tuple[str, int, datetime, str], str] = t["states"]

    async def add(self, station_id: str, bay: int, at: datetime, source: str, state: str, raw: str) -> None:
        self._rows.setdefault((station_id, bay, at, source), state)

    async def between(self, station_id: str, bay: int, start: datetime, end: datetime | None) -> list[Observation]:
        found = [
            (at, source, state)
            for (st, b, at, source), state in self._rows.items()
            if (st, b) == (station_id, bay) and at >= start and (end is None or at < end)
        ]
        return [Observation(at, state) for at, _, state in sorted(found)]

    async def newest(self, station_id: str, bay: int, since: datetime) -> Observation | None:
        found = await self.between(station_id, bay, since, None)
        return max(found, key=lambda o: o.at) if found else None  # the first of the newest instant

    async def prefetch(self, bays: Collection[tuple[str, int, datetime]]) -> None:
        return None

    async def prefetch_newest(self, bays: Collection[tuple[str, int]]) -> None:
        return None


class FakeStations:
    def __init__(self, t: dict[str, Any]) -> None:
        self._rows: dict[str, StationState] = t["stations"]

    async def get(self, station_id: str) -> StationState | None:
        return self._rows.get(station_id)

    async def touch(self, station_id: str, seen_at: datetime, ocpp_version: str | None, now: datetime) -> StationState:
        station = self._rows.get(station_id) or StationState(station_id, ocpp_version, True, None, seen_at)
        station = replace(
            station,
            last_seen_at=max(station.last_seen_at, seen_at),
            ocpp_version=ocpp_version or station.ocpp_version,
        )
        self._rows[station_id] = station
        return station

    def seen_again(self, station_id: str, seen_at: datetime, ocpp_version: str | None) -> bool:
        return False  # never inside a consumer batch

    async def presence(self, station_id: str, *, connected: bool, at: datetime) -> None:
        station = self._rows.get(station_id)
        if station is not None and (station.presence_at is None or station.presence_at <= at):
            self._rows[station_id] = replace(station, connected=connected, presence_at=at)


class FakeRemoteStarts:
    def __init__(self, t: dict[str, Any]) -> None:
        self._rows: dict[int, RemoteStart] = t["remote_starts"]

    async def add(self, **values: Any) -> int:
        remote_start_id = max(self._rows, default=0) + 1
        defaults = {"message": None, "station_response": None, "session_id": None, "answered_at": None}
        self._rows[remote_start_id] = RemoteStart(remote_start_id=remote_start_id, **{**defaults, **values})
        return remote_start_id

    async def get(self, remote_start_id: int) -> RemoteStart | None:
        return self._rows.get(remote_start_id)

    async def answered(self, remote_start_id: int, **values: Any) -> None:
        if remote_start_id in self._rows:
            self._rows[remote_start_id] = replace(self._rows[remote_start_id], **values)

    async def link(self, remote_start_id: int, session_id: str) -> None:
        start = self._rows.get(remote_start_id)
        if start is not None and start.session_id is None:
            self._rows[remote_start_id] = replace(start, session_id=session_id)

    async def awaiting_session(
        self, station_id: str, id_token: str, bay: int | None, earliest: datetime, latest: datetime
    ) -> RemoteStart | None:
        found = [
            s
            for s in self._rows.values()
            if (s.station_id, s.id_token) == (station_id, id_token)
            and s.session_id is None
            and s.status in ("sent", "accepted")
            and earliest <= s.requested_at <= latest
        ]
        for start in sorted(found, key=lambda s: s.requested_at, reverse=True):
            wanted = start.connector_id if start.connector_id is not None else start.evse_id
            if bay is None or wanted is None or wanted == bay:
                return start
        return None


class FakeSessionUnitOfWork(FakeUnitOfWork):
    """The session unit of work over a FakeStore; never inside a consumer batch."""

    def attach_repositories(self, tables: dict[str, Any]) -> None:
        self.sessions = FakeSessions(tables)
        self.readings = FakeReadings(tables)
        self.states = FakeStates(tables)
        self.stations = FakeStations(tables)
        self.remote_starts = FakeRemoteStarts(tables)

    @property
    def batch_memo(self) -> dict[Hashable, Any] | None:
        return None

    def before_commit(self, key: Hashable, hook: Callable[[], Awaitable[None]]) -> None:
        raise AssertionError("before_commit needs a consumer batch; the fakes have none")


@dataclass
class FakeAuthorizer:
    """Answers every Authorize with `status` (and `driver_id`), recording what it was asked."""

    status: str = "Accepted"
    driver_id: str | None = "driver-1"
    asked: list[tuple[str, str]] = field(default_factory=list)

    async def authorize(
        self, station_id: str, ocpp_version: str, id_token: str, id_token_type: str, evse_id: int | None
    ) -> Decision:
        self.asked.append((station_id, id_token))
        return Decision(self.status, self.driver_id)


@dataclass
class FakeCommands:
    """A gateway that answers each action from `answers` (default: Accepted), or none at all (`silent`).

    `during` runs while the command is out, as a station that starts its transaction before the answer does.
    """

    answers: dict[str, CommandAnswer] = field(default_factory=dict)
    silent: bool = False
    during: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None
    sent: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    timeout_s: float = 5.0

    async def send(
        self, station_id: str, action: str, payload: dict[str, Any], ocpp_version: str, *, quick: bool = False
    ) -> CommandAnswer:
        self.sent.append((station_id, action, payload))
        if self.during is not None:
            await self.during(action, payload)
        if self.silent:
            raise GatewayUnanswered(f"no gateway answered {action} in time")
        return self.answers.get(action, CommandAnswer("answered", {"status": "Accepted"}))


@dataclass
class Fakes:
    """A SessionContext over fakes, and the fakes to look into."""

    ctx: SessionContext
    store: FakeStore
    clock: FakeClock

    def uow(self) -> FakeSessionUnitOfWork:
        return FakeSessionUnitOfWork(self.store)

    def published(self, topic: str | None = None) -> list[Any]:
        return self.store.envelopes(topic)


def fake_session(**overrides: Any) -> Fakes:
    store = FakeStore(empty_tables())
    clock = FakeClock(NOW)
    ids = itertools.count(1)
    ctx = SessionContext(
        uow=lambda: FakeSessionUnitOfWork(store),
        topics=Topics(),
        source="session/test",
        clock=clock,
        new_id=lambda: f"S{next(ids)}",
        **overrides,
    )
    return Fakes(ctx, store, clock)

"""What the session use cases need from a store: repository and unit-of-work interfaces (ADR 0010).

The use cases depend on these, never on SQLAlchemy: `adapters/unit_of_work.py` implements them over the
database (wired in `bootstrap.py`), the in-memory fakes of the tests (`tests/session_store_fakes.py`) over dicts,
so the rules of recording, ending and remote starts are tested in milliseconds without Kafka or a database.
How the SQL side batches its reads and writes (prefetches, buffered inserts) is its own business: a
`prefetch_*` is only a hint, and outside a consumer batch `batch_memo` is None.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Collection, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from voltline_store.ports import UnitOfWork

from voltline_session.domain.meter import Reading
from voltline_session.domain.periods import Observation
from voltline_session.domain.session import Session
from voltline_session.domain.stations import RemoteStart, StationState


@dataclass(frozen=True)
class SessionFilter:
    """Which sessions the API lists (every given field must match)."""

    station_id: str | None = None
    status: str | None = None
    driver_id: str | None = None
    id_token: str | None = None
    started_from: datetime | None = None  # inclusive
    started_to: datetime | None = None  # exclusive
    suspect: bool | None = None
    # A driver's own sessions: linked to the driver id, or carrying their app token (docs/drivers.md).
    driver_or_id_token: tuple[str, str | None] | None = None


class SessionRepository(Protocol):
    async def get(self, session_id: str, *, for_update: bool = False) -> Session | None: ...
    async def by_transaction(self, station_id: str, transaction_id: str) -> Session | None:
        """Locks the row (for update)."""
        ...

    async def add(self, s: Session) -> None: ...
    async def save(self, s: Session) -> None: ...
    async def save_many(self, saved: Sequence[Session]) -> None: ...
    async def list(self, where: SessionFilter, *, limit: int, offset: int) -> builtins.list[Session]:
        """Newest start first, then by id."""
        ...

    async def covering(self, station_id: str, bay: int, at: datetime, lookback: timedelta) -> builtins.list[Session]:
        """Sessions on a bay whose window (from `lookback` before the start) contains `at`, for update."""
        ...

    async def first_seq(self, session_id: str, seq_no: int) -> bool:
        """Record a 2.x seqNo; False when this transaction's message with that number was already applied."""
        ...

    async def first_seq_of_new(self, session_id: str, seq_no: int) -> None:
        """Record the seqNo of the message that creates this session (it has none yet: nothing to check)."""
        ...

    async def seen_seq_nos(self, session_id: str) -> set[int]: ...
    async def prefetch_seq_nos(self, session_ids: Collection[str]) -> None: ...
    async def unannounced_ends(self, recorded_before: datetime, limit: int = 100) -> builtins.list[Session]:
        """Ended sessions never announced (revision 0) whose end was recorded before `recorded_before`."""
        ...

    async def mark_suspect(self, silent_since: datetime, now: datetime) -> int:
        """Flag active sessions whose station said nothing since `silent_since`."""
        ...

    async def clear_suspect(self, station_id: str) -> None: ...
    async def count_active(self) -> int: ...
    async def active_on_bay(self, station_id: str, bay: int) -> builtins.list[Session]: ...
    async def mark_rebooted(self, station_id: str, now: datetime) -> int:
        """The station's active sessions are in doubt ("rebooted") and not checked yet."""
        ...

    async def mark_silent(self, heard_before: datetime, now: datetime) -> int:
        """Active sessions not in doubt whose transaction was last heard of (else updated) before `heard_before`."""
        ...

    async def unchecked_doubts(self, now: datetime, limit: int) -> builtins.list[Session]:
        """Active sessions in doubt the station was not asked about yet; marked as asked (`checked_at`) now."""
        ...

    async def expired_doubts(self, doubted_before: datetime, limit: int) -> builtins.list[Session]: ...


class ReadingRepository(Protocol):
    async def add(self, session_id: str, readings: Sequence[Reading]) -> None:
        """The first value for a measurand at an instant stays; a resent one is dropped."""
        ...

    async def for_session(self, session_id: str) -> list[Reading]:
        """In order of time, then measurand."""
        ...

    async def prefetch(self, session_ids: Collection[str]) -> None: ...


class ChargingStateRepository(Protocol):
    async def add(self, station_id: str, bay: int, at: datetime, source: str, state: str, raw: str) -> None:
        """An observation; the same (station, bay, instant, source) again is dropped."""
        ...

    async def between(self, station_id: str, bay: int, start: datetime, end: datetime | None) -> list[Observation]:
        """Observations in [start, end), in order of time, then source."""
        ...

    async def newest(self, station_id: str, bay: int, since: datetime) -> Observation | None:
        """The newest observation at or after `since` (of equal instants, the first by source): all an
        open session's charging state needs, without reading every observation since its start."""
        ...

    async def prefetch(self, bays: Collection[tuple[str, int, datetime]]) -> None: ...

    async def prefetch_newest(self, bays: Collection[tuple[str, int]]) -> None:
        """Inside a batch: the newest observation of these bays in one query, for the `newest` calls to come."""
        ...


class StationRepository(Protocol):
    async def get(self, station_id: str) -> StationState | None: ...
    async def touch(self, station_id: str, seen_at: datetime, ocpp_version: str | None, now: datetime) -> StationState:
        """The station said something (at `seen_at`): created if new, its writes serialised from here on."""
        ...

    def seen_again(self, station_id: str, seen_at: datetime, ocpp_version: str | None) -> bool:
        """What `touch` does to a station the consumer batch has touched already (in its memory, no I/O);
        False, nothing done, for any other (or outside a batch): `touch` it."""
        ...

    async def presence(self, station_id: str, *, connected: bool, at: datetime) -> None:
        """Connect/disconnect, in the order the gateway saw them (an older one does not win)."""
        ...


class RemoteStartRepository(Protocol):
    async def add(self, **values: Any) -> int:
        """The new remote start's id."""
        ...

    async def get(self, remote_start_id: int) -> RemoteStart | None: ...
    async def answered(self, remote_start_id: int, **values: Any) -> None: ...
    async def link(self, remote_start_id: int, session_id: str) -> None:
        """Only a remote start not linked yet."""
        ...

    async def awaiting_session(
        self, station_id: str, id_token: str, bay: int | None, earliest: datetime, latest: datetime
    ) -> RemoteStart | None:
        """The newest unlinked, not refused remote start a session starting in [earliest, latest] answers."""
        ...


class SessionUnitOfWork(UnitOfWork, Protocol):
    """One transaction over the session store: repositories, outbox and inbox commit together.

    `async with uow: ...; await uow.commit()`; leaving the block without commit() rolls everything back.
    Inside a consumer batch the SQL one joins the batch's transaction (`voltline_store.batch`).
    """

    @property
    def sessions(self) -> SessionRepository: ...
    @property
    def readings(self) -> ReadingRepository: ...
    @property
    def states(self) -> ChargingStateRepository: ...
    @property
    def stations(self) -> StationRepository: ...
    @property
    def remote_starts(self) -> RemoteStartRepository: ...
    @property
    def batch_memo(self) -> dict[Hashable, Any] | None:
        """Memory shared by the units of work of one consumer batch; None outside a batch."""
        ...

    def before_commit(self, key: Hashable, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` once before the batch commits (only inside a batch)."""
        ...

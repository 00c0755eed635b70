"""What the session use cases need besides a transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import uuid4

from voltline_events import Topics

from voltline_session.domain.energy import MeterPolicy
from voltline_session.domain.tally import TallyCache
from voltline_session.service_layer.unit_of_work import SessionUnitOfWork

# The inbox consumer name: one per service, whatever the instance.
CONSUMER = "session"


def new_session_id() -> str:
    return str(uuid4())


@dataclass(frozen=True)
class SessionContext:
    uow: Callable[[], SessionUnitOfWork]
    topics: Topics
    source: str
    clock: Callable[[], datetime]
    policy: MeterPolicy = field(default_factory=MeterPolicy)
    update_interval: timedelta = timedelta(seconds=60)
    suspect_after: timedelta = timedelta(hours=1)
    link_window: timedelta = timedelta(seconds=180)
    # How long a 2.x end waits for the rest of its transaction's messages before it is announced anyway.
    end_grace: timedelta = timedelta(seconds=600)
    # Station clocks and ours disagree a little; a session may seem to start slightly before its request.
    clock_skew: timedelta = timedelta(seconds=60)
    # A session whose transaction nothing was heard of this long is checked with the station ...
    silent_after: timedelta = timedelta(hours=2)
    # ... and, like the sessions of a station that rebooted, ended unless the station confirms it this soon.
    confirm_grace: timedelta = timedelta(seconds=300)
    new_id: Callable[[], str] = new_session_id
    # Units of work for reads only (API GETs): they never wait for a consumer batch's write lock.
    read_uow: Callable[[], SessionUnitOfWork] | None = None
    # Fold new readings into a session's running totals (domain.tally) instead of reading all of them;
    # off: every change recomputes from all readings (the reference the equivalence tests compare with).
    fold_readings: bool = True
    # Append a held session's plain MeterValues without merging each (batching.append); off: the general
    # path (the reference the equivalence tests compare with).
    plain_appends: bool = True
    # The running totals this process wrote last (their stored JSON is read back by the next batch).
    tallies: TallyCache = field(default_factory=TallyCache)

    def reader(self) -> SessionUnitOfWork:
        return self.read_uow() if self.read_uow is not None else self.uow()

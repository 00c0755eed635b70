"""What the analytics use cases need from the store: the projection store and the KPI reads (ADR 0010).

The projector and the queries depend on these, never on SQLAlchemy: `adapters/projection_store.py` and
`adapters/kpi_reads.py` implement them over the database, in chunks and with the sums done in SQL.
The record shapes they exchange are here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from voltline_analytics.domain.facts import Fact
from voltline_analytics.domain.measures import Contribution, Measures
from voltline_analytics.domain.timeslots import Granularity


@dataclass
class ProjectionState:
    """The rows of live state a batch reads and changes, loaded once and written back once."""

    stations: dict[str, dict[str, Any]] = field(default_factory=dict)
    ports: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    watermarks: dict[tuple[str, str], datetime] = field(default_factory=dict)
    dirty_stations: set[str] = field(default_factory=set)
    dirty_ports: set[tuple[str, int]] = field(default_factory=set)
    dirty_watermarks: set[tuple[str, str]] = field(default_factory=set)


class ProjectionStore(Protocol):
    """The analytics store inside one transaction (the caller's)."""

    async def load_state(self, changes: Sequence[Any]) -> ProjectionState:
        """The live state (stations, ports, watermarks) of the stations these changes name."""
        ...

    async def store_facts(self, facts: list[Fact], contributions: dict[int, list[Contribution]] | None = None) -> None:
        """Replace the stored facts these outrank; move the buckets by the difference in contributions
        (`contributions`: those computed ahead, by id of the fact)."""
        ...

    async def save_state(self, state: ProjectionState, late_rows: list[dict[str, Any]]) -> None:
        """Write back what changed, and the late events not recorded yet."""
        ...

    async def replace(self, table: str, rows: dict[tuple[Any, ...], dict[str, Any]]) -> None:
        """Insert or replace reference rows by primary key (the newest in log order wins)."""
        ...


@dataclass
class StationPorts:
    """A station as the capacity figures need it."""

    station_id: str
    ports: int
    first_seen_at: datetime | None
    offline_since: datetime | None
    faults_since: list[datetime]


class KpiReads(Protocol):
    """Reads of the stored buckets and live state, for the KPI queries. `stations` None: the whole network."""

    async def members(self, group_id: str) -> list[str]: ...
    async def stations(self, only: list[str] | None) -> list[StationPorts]:
        """The stations (all of `only`, known or not), by id; at least one port each."""
        ...

    async def summed(
        self,
        stored: Granularity,
        start: datetime,
        end: datetime,
        stations: list[str] | None,
        group_id: str | None = None,
    ) -> list[Any]:
        """Stored buckets in [start, end) summed per (bucket_start, currency); rows readable by attribute. With
        `group_id`, the group's own (materialised) buckets instead of its `stations`'."""
        ...

    async def offline_s(self, starts: list[datetime], stored: Granularity) -> list[tuple[str, datetime, int]]:
        """(station, bucket start, closed offline seconds) of the station buckets starting at `starts`."""
        ...

    async def driver_keys(
        self, stations: list[str] | None, start: datetime, end: datetime
    ) -> list[tuple[datetime, str]]:
        """(hour, driver key) of every contribution with a driver in [start, end)."""
        ...

    async def hourly(
        self, stations: list[str] | None, start: datetime, end: datetime, group_id: str | None = None
    ) -> list[tuple[datetime, int, int]]:
        """(hour, sessions, occupied seconds) of the hour buckets without currency in [start, end) (a group's
        own with `group_id`)."""
        ...

    async def daily_by_station(self, start: datetime, end: datetime) -> list[tuple[str, Measures]]:
        """(station, measures) of every station day bucket from `start` to `end`."""
        ...

"""Station and connector status rules (pure): normalising what stations report, and when a station is silent.

The normalised status is one vocabulary for every protocol version: 1.6's Preparing, Charging, SuspendedEV,
SuspendedEVSE and Finishing all mean a vehicle is at the connector (`Occupied`), as 2.x says directly.
While a station is offline every connector reads `Unknown`, and the last report stays in `ocpp_status`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal

Status = Literal["Available", "Occupied", "Reserved", "Unavailable", "Faulted", "Unknown"]
Health = Literal["online", "offline", "unresponsive"]

STATION_WIDE = 0
"""1.6 connectorId 0 (and a 2.x evseId 0): the station as a whole, kept beside its connectors."""

_NORMALISED: dict[str, Status] = {
    "Available": "Available",
    "Preparing": "Occupied",
    "Charging": "Occupied",
    "SuspendedEV": "Occupied",
    "SuspendedEVSE": "Occupied",
    "Finishing": "Occupied",
    "Occupied": "Occupied",
    "Reserved": "Reserved",
    "Unavailable": "Unavailable",
    "Faulted": "Faulted",
}


def normalise(ocpp_status: str | None) -> Status:
    """The normalised status of what a station reported (anything unheard of is `Unknown`)."""
    return _NORMALISED.get(ocpp_status or "", "Unknown")


def error_code(reported: str | None) -> str | None:
    """1.6 says NoError when there is none; voltline says null."""
    return None if reported in (None, "", "NoError") else reported


def newest(at: datetime, held: datetime | None) -> bool:
    """Whether an event stamped `at` by the gateway is at least as new as the one that set what is `held` (a
    station's link, a port's report): the newest event wins, not the last one read. A broker that restarts
    empty can be given a station's disconnect (or newest status) before the gateway's spool replays the older
    events (ADR 0045, ADR 0038); their copies then come again and are dropped by the inbox."""
    return held is None or at >= held


def heard_within(at: datetime, now: datetime, limit: timedelta) -> bool:
    """Whether a station last heard at `at` is not silent past its limit `now`: the monitor's test before it marks
    a station, and whether a message stamped `at`, read `now`, ends an unresponsive mark (the monitor would not
    mark it now). The mark needs nothing heard in the limit before
    it, so a replayed copy, or any message older than that silence, never does; one stamped just before the mark
    (in flight, or held by a restarted broker) does: the station was not silent that long. A message read more
    than the limit after its time leaves the station unresponsive (ending it, the monitor would mark it again)."""
    return now - at <= limit


def shown_status(status: Status, online: bool) -> Status:
    return status if online else "Unknown"


@dataclass(frozen=True)
class Silence:
    """When an open connection counts as unresponsive: nothing heard for max(factor x heartbeat, minimum)."""

    factor: float = 2.0
    minimum: timedelta = timedelta(seconds=120)

    def limit(self, heartbeat_interval_s: int | None, default_interval_s: int) -> timedelta:
        return _limit(self.factor, self.minimum, heartbeat_interval_s or default_interval_s)

    def unresponsive(
        self, *, online: bool, last_seen_at: datetime, now: datetime, heartbeat_interval_s: int | None, default_s: int
    ) -> bool:
        return online and now - last_seen_at > self.limit(heartbeat_interval_s, default_s)


@lru_cache(maxsize=256)
def _limit(factor: float, minimum: timedelta, interval_s: int) -> timedelta:
    """Asked for every event a station sends (its silence deadline): a handful of distinct intervals."""
    return max(timedelta(seconds=interval_s) * factor, minimum)


def health(online: bool, unresponsive: bool) -> Health:
    if not online:
        return "offline"
    return "unresponsive" if unresponsive else "online"

"""What auth still owes a station (a cache clear, a local list update) and when to try again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from voltline_auth.domain.local_lists import OnStation

RETRY_BASE_S = 10
RETRY_MAX_S = 600


@dataclass(frozen=True)
class StationSync:
    """Work is pending while `generation` (bumped by every change) is ahead of `synced_generation`."""

    station_id: str
    ocpp_version: str | None = None
    connected: bool = False
    gateway_instance: str | None = None
    presence_at: datetime | None = None  # the gateway's time of the newest presence event applied
    local_list: str | None = None
    list_on_station: str | None = None
    list_version_on_station: int | None = None
    list_supported: bool = True
    cache_clear_pending: bool = False
    generation: int = 0
    synced_generation: int = 0
    attempts: int = 0
    next_attempt_at: datetime | None = None
    lease_until: datetime | None = None
    last_error: str | None = None
    last_synced_at: datetime | None = None

    @property
    def pending(self) -> bool:
        return self.generation != self.synced_generation

    @property
    def held(self) -> OnStation:
        return OnStation(self.list_on_station, self.list_version_on_station)

    @property
    def has_list_work(self) -> bool:
        """A list to install, or a list on the station that should not be there (ours, or one from elsewhere
        it reported); a station that never had one and gets none costs nothing."""
        on_station = self.list_on_station is not None or bool(self.list_version_on_station)
        return self.list_supported and (self.local_list is not None or on_station)


def next_attempt(attempts: int, now: datetime) -> datetime:
    """Exponential backoff: 10 s, 20 s, 40 s ... capped at 10 minutes."""
    return now + timedelta(seconds=min(RETRY_BASE_S * 2 ** max(attempts - 1, 0), RETRY_MAX_S))


def presence_applies(
    state: StationSync | None, at: datetime, *, leaving: bool = False, gateway_instance: str | None = None
) -> bool:
    """Whether a station's connect, boot or (`leaving`) disconnect, stamped `at` by its gateway, changes its link.

    The newest event wins, not the last one read: a broker that restarts empty can hold a disconnect the
    producer resent to it before the gateway's spool gives it the connect and boot that came first (ADR 0045),
    and the later copies of the disconnect are then dropped by the inbox. A disconnect from an instance other
    than the one that announced the station last is ignored: it may be announced there before let go here.
    """
    if state is None:
        return True
    if leaving and state.gateway_instance not in (None, gateway_instance):
        return False
    return state.presence_at is None or at >= state.presence_at

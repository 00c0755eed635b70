"""Stations heard without a transaction: what a batch committed about each, and the "last seen" not yet written.

Most of a charging station's messages change nothing diagnostics keeps but its `last_seen_at`: heartbeats,
meter values and transaction updates of a session under way, a StatusNotification repeating the connector's
status. Each used to cost an inbox marker, the station's and its connectors' reads and a touch of its row in a
batch transaction. `HeardMemory` remembers, per station, what the last batch that named it committed (its
silence limit, whether it is unresponsive or waits for a transaction after an authorisation, its connectors'
reports); an event that would change nothing but `last_seen_at` there is answered from memory (`quiet_*`), and
the newest time of each station is written every few seconds (`take`). An entry is trusted for `ttl_s` after the
commit it came from (then the next event goes through a batch again, which refreshes it), so what another
instance changed meanwhile (a rebalance) is seen within that time. Pure: no I/O, the caller gives the clocks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from voltline_diagnostics.domain.status import error_code

OCCUPYING_STATES = frozenset({"EVConnected", "Charging", "SuspendedEV", "SuspendedEVSE"})
SIGNS_OF_LIFE = frozenset(
    ("station.heartbeat", "station.meter_values", "station.authorize", "station.data_transfer", "station.message")
)
Report = tuple[str, str, str | None, str | None, str | None]
"""A connector's last report as stored: its status (normalised), the OCPP status, error code (None for NoError),
vendor error code, info."""


@dataclass(slots=True)
class Known:
    """What a committed batch left of one station (only what decides whether an event changes anything)."""

    expires: float  # monotonic seconds: trusted until then
    last_seen: datetime
    limit: timedelta  # its silence limit (unresponsive after this long without a message)
    responsive: bool  # not marked unresponsive
    no_pending_authorization: bool  # no accepted Authorize waiting for a transaction, none unused
    ports: dict[tuple[int, int], Report] = field(default_factory=dict)
    maintenance: dict[str, str] = field(default_factory=dict)  # the OCPP status maintenance holds per connector
    repeated: dict[tuple[int, int], datetime] = field(default_factory=dict)  # a port's newest quiet report


def port_of(evse_id: Any, connector_id: Any) -> tuple[int, int] | None:
    """A StatusNotification's port as the status handler keys it (evse, connector; 0 for the whole station)."""
    if not isinstance(connector_id, int) or not (evse_id is None or isinstance(evse_id, int)):
        return None
    evse = evse_id if evse_id is not None else connector_id
    return (evse, connector_id if evse != 0 else 0)


class HeardMemory:
    """Per station, what its last committed batch left (`remember`), and its newest unwritten time (`take`)."""

    def __init__(self, ttl_s: float = 10.0) -> None:
        self.ttl_s = ttl_s
        self._known: dict[str, Known] = {}
        self._pending: dict[str, tuple[datetime, datetime]] = {}  # station -> (newest time, when it was handled)

    def __len__(self) -> int:
        return len(self._known)

    def remember(
        self,
        station_id: str,
        *,
        now: float,
        last_seen: datetime,
        limit: timedelta,
        responsive: bool,
        no_pending_authorization: bool,
        ports: Iterable[tuple[tuple[int, int], Report]],
        maintenance: Mapping[str, str] = {},
    ) -> None:
        """A batch naming the station committed this. What maintenance holds is kept from an entry still
        trusted (only a batch's StatusNotifications tell it; `maintenance` adds those of this one)."""
        old = self._known.get(station_id)
        held = dict(old.maintenance) if old is not None and old.expires > now else {}
        held.update(maintenance)
        repeated = old.repeated if old is not None else {}  # times heard, true however old the entry
        self._known[station_id] = Known(
            now + self.ttl_s, last_seen, limit, responsive, no_pending_authorization, dict(ports), held, repeated
        )

    def forget(self, station_id: str) -> None:
        """Not trusted any more (a batch naming it failed, the monitor marked it): its next event goes to a batch."""
        self._known.pop(station_id, None)

    def _trusted(self, station_id: str, now: float) -> Known | None:
        known = self._known.get(station_id)
        if known is None or known.expires <= now or not known.responsive:
            return None
        return known

    def quiet_sign_of_life(self, station_id: str, now: float) -> Known | None:
        """The station's entry when a sign of life (heartbeat, meter values...) would change nothing but its
        last seen time: known, trusted and not unresponsive (hearing an unresponsive station is a change)."""
        return self._trusted(station_id, now)

    def quiet_transaction(self, station_id: str, now: float, payload: Mapping[str, Any]) -> Known | None:
        """A `station.transaction` (its payload's fields) that would change nothing but the last seen time: no
        authorisation waits for it, and a 2.x transaction with a vehicle names a port already not Available."""
        known = self._trusted(station_id, now)
        if known is None or not known.no_pending_authorization:
            return None
        version, kind = payload.get("ocpp_version"), payload.get("kind")
        if not isinstance(version, str) or not isinstance(kind, str):
            return None
        evse, connector = payload.get("evse_id"), payload.get("connector_id")
        if version == "ocpp1.6" or kind == "ended" or evse is None or connector is None:
            return known
        if payload.get("charging_state") not in OCCUPYING_STATES:
            return known
        if not isinstance(evse, int) or not isinstance(connector, int):
            return None
        report = known.ports.get((evse, connector))
        return known if report is not None and report[0] != "Available" else None  # else it becomes Occupied

    def quiet_status(self, station_id: str, now: float, payload: Mapping[str, Any]) -> Known | None:
        """A StatusNotification repeating its port's stored report (status, error code, vendor code, info), not a
        fault (each Faulted report counts an occurrence of the open alert), which maintenance already holds."""
        known = self._trusted(station_id, now)
        if known is None:
            return None
        port = port_of(payload.get("evse_id"), payload.get("connector_id"))
        status = payload.get("status")
        if port is None or not isinstance(status, str) or status == "Faulted":
            return None
        code = payload.get("error_code")
        if code is not None and not isinstance(code, str):
            return None
        stored = known.ports.get(port)
        if stored is None or stored[1:] != (
            status,
            error_code(code),
            payload.get("vendor_error_code"),
            payload.get("info"),
        ):
            return None
        return known if known.maintenance.get(str(payload["connector_id"])) == status else None

    def repeated(self, known: Known, payload: Mapping[str, Any], at: datetime) -> None:
        """A quiet StatusNotification at `at`: the port's stored row keeps its older `reported_at`, so its time is
        kept here, for a batch to judge an older report read after it (`newest_report`, ADR 0038)."""
        port = port_of(payload.get("evse_id"), payload.get("connector_id"))
        if port is None:
            return
        held = known.repeated.get(port)
        if held is None or at > held:
            known.repeated[port] = at

    def newest_report(self, station_id: str, port: tuple[int, int]) -> datetime | None:
        """The newest time a report of this port was answered from memory, if any."""
        known = self._known.get(station_id)
        return known.repeated.get(port) if known is not None else None

    def heard(self, station_id: str, known: Known, at: datetime, handled_at: datetime) -> datetime:
        """A quiet event at `at`: the station's newest time (to write later); returns its silence deadline."""
        pending = self._pending.get(station_id)
        newest = max(at, known.last_seen) if pending is None else max(at, pending[0])
        self._pending[station_id] = (newest, handled_at)
        return newest + known.limit

    def pending(self, station_id: str) -> datetime | None:
        """The station's newest time not written yet, if any."""
        found = self._pending.get(station_id)
        return found[0] if found is not None else None

    def take(self) -> dict[str, tuple[datetime, datetime]]:
        """Every station's newest unwritten time and when it was handled, to write now (they are cleared)."""
        taken, self._pending = self._pending, {}
        return taken

    def put_back(self, taken: Mapping[str, tuple[datetime, datetime]]) -> None:
        """A write of `taken` failed: keep them for the next one (newer times heard meanwhile win)."""
        for station_id, (at, handled_at) in taken.items():
            current = self._pending.get(station_id)
            if current is None or current[0] < at:
                self._pending[station_id] = (at, handled_at)

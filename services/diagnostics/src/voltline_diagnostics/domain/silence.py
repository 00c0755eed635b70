"""When each station this process heard from goes silent: a min-heap of deadlines (pure, no I/O).

The monitor used to read every online station silent for more than the minimum (two minutes) every five
seconds and keep the few past their own limit: with a 300 s heartbeat that is most of the fleet, each round.
The consumer now tells the watch when it hears a station (its deadline: last heard + its silence limit);
the monitor asks only for the stations whose deadline passed, and checks those in the store.

One heap entry per station: hearing a station again only moves its deadline in a dict (O(1)); when its old
entry reaches the top it is pushed again at the new deadline. A station forgotten (offline) leaves a stale
entry that is dropped when it reaches the top.
"""

from __future__ import annotations

import heapq
from datetime import datetime


class SilenceWatch:
    """Deadlines per station; `due(now)` hands out (once) the stations whose deadline is past."""

    def __init__(self) -> None:
        self._deadline: dict[str, datetime] = {}  # the station's current deadline
        self._queued: dict[str, datetime] = {}  # the deadline of the station's one live heap entry
        self._heap: list[tuple[datetime, str]] = []

    def __len__(self) -> int:
        return len(self._deadline)

    def heard(self, station_id: str, deadline: datetime) -> None:
        """The station is silent from `deadline` on unless heard again (a later call moves it)."""
        self._deadline[station_id] = deadline
        queued = self._queued.get(station_id)
        if queued is None or deadline < queued:  # an earlier deadline (a shorter heartbeat): its own entry
            self._queued[station_id] = deadline
            heapq.heappush(self._heap, (deadline, station_id))

    def forget(self, station_id: str) -> None:
        """Not watched any more (offline); hearing it again starts over."""
        self._deadline.pop(station_id, None)

    def due(self, now: datetime) -> list[str]:
        """The stations whose deadline is at or before `now`, each once (they are forgotten)."""
        out: list[str] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            queued, station_id = heapq.heappop(heap)
            if self._queued.get(station_id) != queued:
                continue  # superseded by an earlier entry of the same station
            del self._queued[station_id]
            deadline = self._deadline.get(station_id)
            if deadline is None:
                continue  # forgotten
            if deadline > now:  # heard since this entry was pushed: wait for the new deadline
                self._queued[station_id] = deadline
                heapq.heappush(heap, (deadline, station_id))
                continue
            del self._deadline[station_id]
            out.append(station_id)
        return out

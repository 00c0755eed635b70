"""Follows billing's compacted tariffs topic into the in-memory TariffTable the location search prices from."""

from __future__ import annotations

from voltline_bus import BusConfig, TopicFollower
from voltline_bus.follow import FollowedRecord
from voltline_chassis import get_logger
from voltline_events import Envelope, decode_payload
from voltline_events.payloads import TariffAssigned, TariffChanged

from voltline_diagnostics.domain.tariff_table import TariffTable

log = get_logger(__name__)


class TariffFollower:
    def __init__(self, config: BusConfig, topic: str, table: TariffTable) -> None:
        self.table = table
        self._follower = TopicFollower(config, topic, self._apply, from_beginning=True, name="tariffs")

    def _apply(self, record: FollowedRecord) -> None:
        if record.value is None:
            return  # a tombstone: nothing to forget (billing never deletes a tariff)
        event = decode_payload(Envelope.from_bytes(record.value))
        if isinstance(event, TariffChanged | TariffAssigned):
            self.table.apply(event)

    @property
    def caught_up(self) -> bool:
        return self._follower.caught_up.is_set()

    async def start(self) -> None:
        await self._follower.start()

    async def restart(self) -> None:
        await self._follower.restart()

    async def stop(self) -> None:
        await self._follower.stop()

"""Station commands over Kafka through the shared typed client (voltline_bus.StationCommandClient)."""

from __future__ import annotations

from voltline_bus import RequestReplyClient, StationCommandClient
from voltline_events import Topics
from voltline_events.payloads.commands import StationCommandResult

from voltline_auth.domain.station_commands import Command

# The gateway waits `timeout_s` for the station; we wait a little longer for the gateway's answer.
BUS_MARGIN_S = 5.0


class KafkaStationCommands:
    def __init__(self, rpc: RequestReplyClient, topics: Topics, *, source: str, timeout_s: float) -> None:
        self._client = StationCommandClient(rpc, topics, source=source, margin_s=BUS_MARGIN_S)
        self._timeout = timeout_s

    async def send(self, station_id: str, command: Command, ocpp_version: str | None) -> StationCommandResult:
        """Never raises for a station's or the bus's sake: those become timeout/invalid results."""
        result = await self._client.send(
            station_id, command.action, command.payload, timeout_s=self._timeout, ocpp_version=ocpp_version
        )
        return result.model_copy(update={"action": command.action})

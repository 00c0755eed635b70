"""Asking a station for its inventory through whichever gateway holds it (request/reply over Kafka)."""

from __future__ import annotations

from typing import Any

from voltline_bus import RequestReplyClient, RequestTimeout
from voltline_events import Topics, decode_payload, envelope_for, station_key
from voltline_events.payloads import StationCommand, StationCommandResult

from voltline_diagnostics.service_layer.ports import Answer

__all__ = ["Answer", "InventoryCommands"]


class InventoryCommands:
    def __init__(self, rpc: RequestReplyClient, topics: Topics, *, source: str, timeout_s: float) -> None:
        self._rpc, self._topics, self._source, self._timeout = rpc, topics, source, timeout_s

    async def ask(self, station_id: str, action: str, payload: dict[str, Any], ocpp_version: str | None) -> Answer:
        command = StationCommand(action=action, payload=payload, timeout_s=self._timeout, ocpp_version=ocpp_version)
        envelope = envelope_for(command, source=self._source, station_id=station_id)
        try:
            reply = await self._rpc.request(
                self._topics.station_commands, envelope, key=station_key(station_id), timeout=self._timeout + 3
            )
        except RequestTimeout:
            return Answer("timeout", error=f"no gateway answered {action} within {self._timeout + 3:g} s")
        result = decode_payload(reply)
        if not isinstance(result, StationCommandResult):
            return Answer("invalid", error=f"unexpected reply {reply.type!r}")
        return Answer(result.outcome, result.payload, result.error_description or result.error_code)

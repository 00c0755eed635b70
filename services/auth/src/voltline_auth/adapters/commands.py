"""Station commands over Kafka: a StationCommand request, the holding gateway's StationCommandResult reply."""

from __future__ import annotations

from voltline_bus import BusError, RequestReplyClient, RequestTimeout
from voltline_chassis.logging import get_logger
from voltline_events import Topics, decode_payload, envelope_for, station_key
from voltline_events.payloads.commands import StationCommand, StationCommandResult

from voltline_auth.domain.station_commands import Command

log = get_logger(__name__)
# The gateway waits `timeout_s` for the station; we wait a little longer for the gateway's answer.
BUS_MARGIN_S = 5.0


class KafkaStationCommands:
    def __init__(self, rpc: RequestReplyClient, topics: Topics, *, source: str, timeout_s: float) -> None:
        self._rpc = rpc
        self._topics = topics
        self._source = source
        self._timeout = timeout_s

    async def send(self, station_id: str, command: Command, ocpp_version: str | None) -> StationCommandResult:
        """Never raises for a station's or the bus's sake: those become timeout/invalid results."""
        request = StationCommand(
            action=command.action, payload=command.payload, timeout_s=self._timeout, ocpp_version=ocpp_version
        )
        envelope = envelope_for(request, source=self._source, station_id=station_id)
        try:
            reply = await self._rpc.request(
                self._topics.station_commands,
                envelope,
                key=station_key(station_id),
                timeout=self._timeout + BUS_MARGIN_S,
            )
        except (RequestTimeout, BusError) as exc:
            log.warning("station command got no answer", station_id=station_id, action=command.action, error=str(exc))
            return StationCommandResult(outcome="timeout", action=command.action, ocpp_version=ocpp_version)
        try:
            result = decode_payload(reply)
        except ValueError as exc:
            return StationCommandResult(
                outcome="invalid", action=command.action, error_description=f"unreadable reply: {exc}"
            )
        if not isinstance(result, StationCommandResult):
            return StationCommandResult(
                outcome="invalid", action=command.action, error_description=f"unexpected reply {reply.type}"
            )
        result = result.model_copy(update={"action": command.action})
        # Log outcomes, never payloads: a password change carries the password.
        log.info("station command answered", station_id=station_id, action=command.action, outcome=result.outcome)
        return result

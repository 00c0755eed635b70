"""A typed client for commands to stations: a StationCommand request, the holding gateway's StationCommandResult.

The gateway answers `offline` at once when no instance holds the station, so only a station that is
connected and slow makes a caller wait the whole `timeout_s`. This client never raises for the station's
or the bus's sake: no gateway answering becomes a `timeout` result saying so.
"""

from __future__ import annotations

from typing import Any

import structlog
from voltline_events import Topics, decode_payload, envelope_for, station_key
from voltline_events.payloads.commands import StationCommand, StationCommandResult

from voltline_bus.errors import BusError, RequestTimeout
from voltline_bus.rpc import RequestReplyClient

log = structlog.get_logger()

# The gateway waits `timeout_s` for the station; the caller waits this much longer for the gateway's answer.
BUS_MARGIN_S = 3.0


class StationCommandClient:
    def __init__(self, rpc: RequestReplyClient, topics: Topics, *, source: str, margin_s: float = BUS_MARGIN_S) -> None:
        self._rpc, self._topics, self._source, self._margin = rpc, topics, source, margin_s

    async def send(
        self,
        station_id: str,
        action: str,
        payload: dict[str, Any],
        *,
        timeout_s: float = 30.0,
        ocpp_version: str | None = None,
        correlation_id: str | None = None,
        wait_s: float | None = None,
        raise_unanswered: bool = False,
    ) -> StationCommandResult:
        """Send one OCPP call to a station and return the gateway's verdict (payloads are never logged).

        `wait_s`: how long to wait for the gateway (default `timeout_s` + margin; shorter to learn only
        whether the station is online). `raise_unanswered`: raise RequestTimeout/BusError when no gateway
        answered, instead of returning a `timeout` result.
        """
        command = StationCommand(action=action, payload=payload, timeout_s=timeout_s, ocpp_version=ocpp_version)
        envelope = envelope_for(command, source=self._source, station_id=station_id)
        if correlation_id:
            envelope = envelope.model_copy(update={"correlation_id": correlation_id})
        wait = timeout_s + self._margin if wait_s is None else wait_s
        try:
            reply = await self._rpc.request(
                self._topics.station_commands, envelope, key=station_key(station_id), timeout=wait
            )
        except (RequestTimeout, BusError) as exc:
            log.warning("station command got no answer", station_id=station_id, action=action, error=str(exc))
            if raise_unanswered:
                raise
            return StationCommandResult(
                outcome="timeout",
                action=action,
                ocpp_version=ocpp_version,
                error_description=f"no gateway answered within {wait:g} s",
            )
        try:
            result = decode_payload(reply)
        except ValueError as exc:
            return StationCommandResult(outcome="invalid", action=action, error_description=f"unreadable reply: {exc}")
        if not isinstance(result, StationCommandResult):
            return StationCommandResult(outcome="invalid", action=action, error_description=f"unexpected {reply.type}")
        log.info("station command answered", station_id=station_id, action=action, outcome=result.outcome)
        return result

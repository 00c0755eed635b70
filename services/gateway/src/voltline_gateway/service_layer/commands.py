"""Commands to stations: every gateway reads every command; the holder of the socket executes it.

A command is a StationCommand request (envelope correlation_id + reply_to) keyed by station id. The instance
holding the station validates it against the official CSMS-to-station schema, sends the call when every earlier
call to that station is answered, and replies with a StationCommandResult. When no instance holds the station,
exactly one answers `offline` at once (see domain.presence). Payloads are never logged: some carry passwords.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from pydantic import ValidationError
from voltline_bus import tracing
from voltline_events import Envelope, decode_payload
from voltline_events.payloads.commands import StationCommand, StationCommandResult

from voltline_gateway.domain.ocpp_j import CallErrorFrame, CallResult
from voltline_gateway.domain.presence import Role, role
from voltline_gateway.metrics import COMMAND_SECONDS, COMMANDS, message
from voltline_gateway.service_layer.ports import SchemaCheck

log = structlog.get_logger()

Reply = Callable[[Envelope, StationCommandResult], Awaitable[None]]


class Target(Protocol):
    """A connected station, as the command path needs it."""

    ocpp_version: str

    async def call(self, action: str, payload: dict[str, Any], deadline: float) -> CallResult | CallErrorFrame: ...


class Holders(Protocol):
    def get(self, station_id: str) -> Any: ...


class PresenceView(Protocol):
    me: str

    def named(self, station_id: str) -> str | None: ...

    def live(self) -> set[str]: ...


class CommandExecutor:
    def __init__(
        self,
        connections: Holders,
        presence: PresenceView,
        outbound: Mapping[str, frozenset[str]],
        reply: Reply,
        *,
        station_gone: type[Exception],
        schemas: SchemaCheck,
    ) -> None:
        self._schemas = schemas
        self._connections = connections
        self._presence = presence
        self._outbound = outbound
        self._reply = reply
        self._station_gone = station_gone
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, key: bytes | None, value: bytes | None) -> None:
        """One record of the commands topic (TopicTail handler): decide at once, run in a task of its own."""
        if value is None:
            return
        try:
            envelope = Envelope.from_bytes(value)
            command = decode_payload(envelope)
        except (ValidationError, ValueError) as exc:
            log.warning("unreadable command skipped", error=str(exc)[:200])
            return
        if not isinstance(command, StationCommand) or not envelope.station_id:
            return
        age = (datetime.now(UTC) - envelope.time).total_seconds()
        if age > command.timeout_s:
            return  # the requester has given up on it already
        station_id = envelope.station_id
        holder = self._connections.get(station_id)
        me = self._presence.me
        decided = role(
            station_id,
            me=me,
            holds=holder is not None,
            named=self._presence.named(station_id),
            live=self._presence.live(),
        )
        if decided is Role.IGNORE:
            return
        # Tasks start in creation order and take the station's lock first thing: commands keep their order.
        task = asyncio.create_task(self._run(envelope, command, holder, command.timeout_s - max(age, 0.0)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, envelope: Envelope, command: StationCommand, holder: Target | None, budget: float) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with (
            structlog.contextvars.bound_contextvars(
                station_id=envelope.station_id, correlation_id=envelope.correlation_id, action=command.action
            ),
            # The requester's trace (an API call at diagnostics or session) goes on to the station.
            tracing.consuming(
                envelope, name=f"command {self._label(command.action)}", attributes={"ocpp.action": command.action}
            ),
        ):
            if holder is None:
                result = self._result(command, "offline", None, error_description="the station is not connected")
            else:
                result = await self._execute(command, holder, started + budget)
            COMMANDS.labels(action=self._label(command.action), outcome=result.outcome).inc()
            COMMAND_SECONDS.observe(loop.time() - started)
            log.info("command done", outcome=result.outcome, error_code=result.error_code)
            try:
                await self._reply(envelope, result)
            except Exception as exc:
                log.error("could not reply to a command", error=str(exc))

    async def _execute(self, command: StationCommand, target: Target, deadline: float) -> StationCommandResult:
        version = target.ocpp_version
        if command.ocpp_version is not None and command.ocpp_version != version:
            return self._result(command, "invalid", version, error_description=f"the station speaks {version}")
        if command.action not in self._outbound.get(version, ()):
            reason = f"{command.action} is not an action the CSMS can send in {version}"
            return self._result(command, "invalid", version, error_description=reason)
        error = self._schemas(version, command.action, command.payload, response=False)
        if error is not None:
            described = error.as_ocpp_error(command.action)
            return self._result(
                command, "invalid", version, error_code=described.code, error_description=described.description
            )
        message(version, command.action, "command_out").inc()
        try:
            frame = await target.call(command.action, command.payload, deadline)
        except TimeoutError:
            return self._result(command, "timeout", version, error_description="the station did not answer in time")
        except self._station_gone:
            return self._result(command, "offline", version, error_description="the station disconnected")
        message(version, command.action, "command_in").inc()
        if isinstance(frame, CallErrorFrame):
            return self._result(
                command, "call_error", version, error_code=frame.code, error_description=frame.description
            )
        note = self._schemas(version, command.action, frame.payload, response=True)
        if note is not None:
            log.warning("station answered off-schema", field=note.field, rule=note.rule)
        return self._result(
            command,
            "answered",
            version,
            payload=frame.payload,
            error_description=None if note is None else f"answer does not match the schema: {note.field}",
        )

    def _result(
        self,
        command: StationCommand,
        outcome: str,
        version: str | None,
        *,
        payload: dict[str, Any] | None = None,
        error_code: str | None = None,
        error_description: str | None = None,
    ) -> StationCommandResult:
        return StationCommandResult(
            outcome=outcome,
            action=command.action,
            ocpp_version=version,
            payload=payload,
            error_code=error_code,
            error_description=error_description,
            gateway_instance=self._presence.me,
        )

    def _label(self, action: str) -> str:
        return action if any(action in actions for actions in self._outbound.values()) else "(unknown)"

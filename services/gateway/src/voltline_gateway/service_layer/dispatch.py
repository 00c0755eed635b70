"""Turns one incoming frame into the frame to answer with, whatever the frame holds.

Nothing raised here escapes: a bad frame, a schema violation, an unknown action, a flood or a failure to reach
Kafka each become the CallError the station should see, and the connection goes on. Frames of one station
are handled one after another by its connection, so its events reach Kafka in the order it sent them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import structlog
from voltline_bus import tracing

from voltline_gateway.actions.context import CallContext, Handler, LocalDecisions, Policy, StationBus, StationLink
from voltline_gateway.domain.ocpp_j import (
    Call,
    CallErrorFrame,
    CallResult,
    FrameError,
    OcppError,
    Send,
    dump_error,
    dump_result,
    parse_frame,
)
from voltline_gateway.domain.quirks import repair
from voltline_gateway.metrics import call_error, message, quirk_repaired
from voltline_gateway.service_layer.flow import FlowGate
from voltline_gateway.service_layer.ports import SchemaCheck

log = structlog.get_logger()
_MAX_REPAIRS = 16


class Link(StationLink, Protocol):
    """A station's connection as the dispatcher needs it."""

    quirks: frozenset[str]

    def allow_frame(self) -> bool:
        """Rate limit: False when the station sends faster than allowed."""

    def refusal(self, action: str) -> OcppError | None:
        """Why this connection may not send `action` now (an unregistered station), or None."""

    def resolve(self, frame: CallResult | CallErrorFrame) -> None:
        """An answer to one of our calls (commands) arrived."""


class Dispatcher:
    def __init__(
        self,
        routes: Mapping[str, Mapping[str, Handler]],
        outbound: Mapping[str, frozenset[str]],
        bus: StationBus,
        policy: Policy,
        *,
        schemas: SchemaCheck,
        decisions: LocalDecisions | None = None,
        flow: FlowGate | None = None,
    ) -> None:
        self._routes = routes
        self._flow = flow  # ADR 0027: deferrable calls wait while consumers lag
        self._decisions = decisions
        self._schemas = schemas
        self._outbound = outbound
        self._bus = bus
        self._policy = policy
        # (version, action) whose schema accepts an empty answer: most answers are `{}`, checked once each.
        self._empty_ok: set[tuple[str, str]] = set()

    async def answer(self, link: Link, text: str | bytes) -> bytes | None:
        """The frame to send back, or None when the frame needs no answer (results, errors, SEND)."""
        version = link.ocpp_version
        allowed = link.allow_frame()  # every frame counts against the station's rate
        try:
            frame = parse_frame(text, version)
        except FrameError as exc:
            return self._error(exc.message_id or "-1", exc, version, action="(unparsed)") if allowed else None
        if isinstance(frame, CallResult | CallErrorFrame):
            link.resolve(frame)  # answers to our own calls are never dropped
            return None
        if not allowed:
            if isinstance(frame, Send):
                return None
            error = OcppError("GenericError", "rate limit exceeded: slow down and retry")
            return self._error(frame.message_id, error, version, action=self._label(version, frame.action))
        message(version, self._label(version, frame.action), "in").inc()
        if isinstance(frame, Send):
            await self._send(link, frame)
            return None
        return await self._call(link, frame)

    async def _call(self, link: Link, call: Call) -> bytes:
        version = link.ocpp_version
        try:
            result = await self._run(link, call.action, call.message_id, call.payload)
        except OcppError as exc:
            log.info(
                "call refused", action=call.action, message_id=call.message_id, code=exc.code, reason=exc.description
            )
            return self._error(call.message_id, exc, version, action=self._label(version, call.action))
        except Exception:
            log.exception("call failed", action=call.action, message_id=call.message_id)
            error = OcppError("InternalError", f"{call.action} could not be processed now; please retry")
            return self._error(call.message_id, error, version, action=call.action)
        try:  # our own answer breaking the schema is our bug, never the station's: InternalError
            if result or (version, call.action) not in self._empty_ok:
                wrong = self._schemas(version, call.action, result, response=True)
                if wrong is not None:
                    raise wrong.as_ocpp_error(call.action)
                if not result:
                    self._empty_ok.add((version, call.action))
        except OcppError as exc:
            log.error("our answer breaks the schema", action=call.action, reason=exc.description)
            error = OcppError("InternalError", f"{call.action}: the CSMS could not form a valid answer")
            return self._error(call.message_id, error, version, action=call.action)
        message(version, call.action, "out").inc()
        return dump_result(call.message_id, result)

    async def _send(self, link: Link, send: Send) -> None:
        """OCPP 2.1 SEND: like a call, but nothing is answered, not even an error."""
        try:
            await self._run(link, send.action, send.message_id, send.payload)
        except OcppError as exc:
            log.info("SEND dropped", action=send.action, code=exc.code, reason=exc.description)
        except Exception:
            log.exception("SEND failed", action=send.action)

    async def _run(self, link: Link, action: str, message_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        if not tracing.enabled():
            return await self._handle(link, action, message_id, payload)
        # One SERVER span per station call: the root of the trace its events carry through Kafka.
        label = self._label(link.ocpp_version, action)
        attributes = {
            "ocpp.action": label,
            "ocpp.version": link.ocpp_version,
            tracing.MESSAGE_ID: message_id,
            tracing.STATION_ID: link.station_id,
        }
        with tracing.traced(f"ocpp {label}", kind=tracing.SpanKind.SERVER, attributes=attributes):
            return await self._handle(link, action, message_id, payload)

    async def _handle(self, link: Link, action: str, message_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        version = link.ocpp_version
        handler = self._routes.get(version, {}).get(action)
        if handler is None:
            if action in self._outbound.get(version, ()):
                raise OcppError("NotSupported", f"{action} is sent by the CSMS, not by a station, in {version}")
            raise OcppError("NotImplemented", f"{action} is not an action of {version}")
        refusal = link.refusal(action)
        if refusal is not None:
            raise refusal
        self._validate(link, action, payload)
        if self._flow is not None and (hold := self._flow.hold_for(action, payload)):
            await self._flow.wait(link, action, hold)  # before the event is stored: nothing half-done waits
        ctx = CallContext(link.station_id, version, message_id, self._bus, self._policy, link, self._decisions)
        return await handler(ctx, payload)

    def _validate(self, link: Link, action: str, payload: dict[str, Any]) -> None:
        version = link.ocpp_version
        error = self._schemas(version, action, payload, response=False)
        if error is None:
            return
        for _ in range(_MAX_REPAIRS if link.quirks else 0):
            applied = repair(payload, error, link.quirks)
            if applied is None:
                break
            quirk_repaired(applied).inc()
            log.warning(
                "quirk repaired", action=action, quirk=applied, field=error.field, vendor=link.vendor, model=link.model
            )
            error = self._schemas(version, action, payload, response=False)
            if error is None:
                return
        raise error.as_ocpp_error(action)

    def _label(self, version: str, action: str) -> str:
        """Metric label: unknown actions share one, so a station cannot blow up the metrics' cardinality."""
        known = action in self._routes.get(version, ()) or action in self._outbound.get(version, ())
        return action if known else "(unknown)"

    @staticmethod
    def _error(message_id: str, error: OcppError, ocpp_version: str, *, action: str) -> bytes:
        call_error(error.code, action).inc()
        return dump_error(message_id, error, ocpp_version)

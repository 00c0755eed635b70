"""Turns one incoming frame into the frame to answer with, whatever the frame holds.

Nothing raised here escapes: a bad frame, a schema violation, an unknown action or a failure to reach
Kafka each become the CallError the station should see, and the connection goes on.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from voltline_gateway.actions.context import BootFallback, CallContext, Handler, StationBus
from voltline_gateway.adapters.validation import validate_call, validate_result
from voltline_gateway.domain.ocpp_j import (
    Call,
    FrameError,
    OcppError,
    Send,
    dump_error,
    dump_result,
    parse_frame,
)
from voltline_gateway.metrics import CALL_ERRORS, MESSAGES

log = structlog.get_logger()


class Dispatcher:
    def __init__(self, routes: Mapping[str, Mapping[str, Handler]], bus: StationBus, boot_fallback: BootFallback):
        self._routes = routes
        self._bus = bus
        self._boot_fallback = boot_fallback

    async def answer(self, station_id: str, ocpp_version: str, text: str | bytes) -> str | None:
        """The frame to send back, or None when the frame needs no answer (results, errors, SEND)."""
        try:
            frame = parse_frame(text, ocpp_version)
        except FrameError as exc:
            return self._error(exc.message_id or "-1", exc, ocpp_version, action="(unparsed)")
        if isinstance(frame, Send):
            MESSAGES.labels(direction="in", action=frame.action, ocpp_version=ocpp_version).inc()
            return None
        if not isinstance(frame, Call):
            # Answers to our own calls are handled by the command path (issue: commands to stations).
            log.info("station answered a call", message_id=frame.message_id)
            return None
        MESSAGES.labels(direction="in", action=frame.action, ocpp_version=ocpp_version).inc()
        with structlog.contextvars.bound_contextvars(message_id=frame.message_id, action=frame.action):
            return await self._call(station_id, ocpp_version, frame)

    async def _call(self, station_id: str, ocpp_version: str, call: Call) -> str:
        handler = self._routes.get(ocpp_version, {}).get(call.action)
        try:
            if handler is None:
                raise OcppError("NotImplemented", f"{call.action} is not supported by this CSMS for {ocpp_version}")
            validate_call(ocpp_version, call.action, call.payload)
            ctx = CallContext(station_id, ocpp_version, call.message_id, self._bus, self._boot_fallback)
            result = await handler(ctx, call.payload)
            validate_result(ocpp_version, call.action, result)
        except OcppError as exc:
            log.info("call refused", code=exc.code, reason=exc.description)
            return self._error(call.message_id, exc, ocpp_version, action=call.action)
        except Exception:
            log.exception("call failed")
            error = OcppError("InternalError", f"{call.action} could not be processed now; please retry")
            return self._error(call.message_id, error, ocpp_version, action=call.action)
        MESSAGES.labels(direction="out", action=call.action, ocpp_version=ocpp_version).inc()
        return dump_result(call.message_id, result)

    @staticmethod
    def _error(message_id: str, error: OcppError, ocpp_version: str, *, action: str) -> str:
        CALL_ERRORS.labels(code=error.code, action=action).inc()
        return dump_error(message_id, error, ocpp_version)

"""One station's connection: what the dispatcher and the command path need of it.

Kept small on purpose (slots, lazily created lock): a gateway holds tens of thousands of these.
Calls to the station go out one at a time, in the order they were asked for (OCPP allows one outstanding
call per direction); each station has its own lock, so a slow station delays nobody else.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.server import ServerConnection

from voltline_gateway.adapters.registry import StationRegistry
from voltline_gateway.domain.ocpp_j import CallErrorFrame, CallResult, OcppError, dump_call
from voltline_gateway.domain.quirks import QuirkRules
from voltline_gateway.domain.rate_limit import TokenBucket

_call_ids = itertools.count(1)
# What a station the registry does not know may send (admitted by VOLTLINE_GATEWAY_UNKNOWN_STATIONS=admit):
# enough to be told Pending/Rejected by the auth service, nothing that creates business data.
UNREGISTERED_MAY_SEND = frozenset({"BootNotification", "Heartbeat"})
# OCPP 2.0.1 B02.FR.09 (and 1.6 4.2): a station told Pending or Rejected may only boot (again) until Accepted.
NOT_ACCEPTED = frozenset({"Pending", "Rejected"})


class StationGone(Exception):
    """The station disconnected before answering our call."""


class StationConnection:
    __slots__ = (
        "_bucket",
        "_lock",
        "_pending",
        "_registry",
        "_rules",
        "_wake",
        "boot_status",
        "close_cause",
        "model",
        "ocpp_version",
        "profile",
        "quirks",
        "remote_address",
        "since",
        "socket",
        "station_id",
        "task",
        "tls",
        "vendor",
    )

    def __init__(
        self,
        station_id: str,
        ocpp_version: str,
        socket: ServerConnection,
        *,
        tls: bool,
        profile: int | None,
        registry: StationRegistry,
        rules: QuirkRules,
        bucket: TokenBucket,
        known_model: tuple[str, str] | None,
    ) -> None:
        self.station_id = station_id
        self.ocpp_version = ocpp_version
        self.socket = socket
        self.remote_address: str | None = socket.remote_address[0] if socket.remote_address else None
        self.since = datetime.now(UTC)
        self.tls = tls
        self.profile = profile  # None: an unregistered station admitted by policy
        self._registry = registry
        self._rules = rules
        self._bucket = bucket
        self.vendor: str | None = known_model[0] if known_model else None
        self.model: str | None = known_model[1] if known_model else None
        self.quirks = rules.for_model(self.vendor, self.model)
        self.boot_status: str | None = None
        self.close_cause: str | None = None
        self.task: asyncio.Task[Any] | None = asyncio.current_task()
        self._lock: asyncio.Lock | None = None
        self._pending: tuple[str, asyncio.Future[CallResult | CallErrorFrame]] | None = None
        self._wake: asyncio.Event | None = None

    async def hold(self, seconds: float) -> None:
        """Flow control (ADR 0027): wait before handling a held call. A command for this station ends the wait
        early: the station's answer to it is read by the same loop that waits here."""
        wake = self._wake = asyncio.Event()
        try:
            async with asyncio.timeout(seconds):
                await wake.wait()
        except TimeoutError:
            pass
        finally:
            self._wake = None

    # --- what the dispatcher needs (service_layer.dispatch.Link) ---

    def allow_frame(self) -> bool:
        return self._bucket.allow(time.monotonic())

    @property
    def refused_in_a_row(self) -> int:
        return self._bucket.refused_in_a_row

    def refusal(self, action: str) -> OcppError | None:
        if self.boot_status in NOT_ACCEPTED and action != "BootNotification":
            return OcppError(
                "SecurityError",
                f"station was answered {self.boot_status} at boot: only BootNotification is accepted until it is "
                "Accepted",
            )
        if self.profile is not None:
            return None
        entry = self._registry.get(self.station_id)
        if entry is None:
            if action in UNREGISTERED_MAY_SEND:
                return None
            return OcppError(
                "SecurityError", "station is not registered: only BootNotification and Heartbeat are accepted"
            )
        if entry.security_profile == 0:
            self.profile = 0
            return None
        self.close_cause = "unauthenticated"
        return OcppError(
            "SecurityError",
            f"station was registered with security profile {entry.security_profile}: reconnect with its credentials",
        )

    def booted(self, vendor: str, model: str, status: str) -> None:
        self.vendor, self.model, self.boot_status = vendor, model, status
        self.quirks = self._rules.for_model(vendor, model)

    def resolve(self, frame: CallResult | CallErrorFrame) -> None:
        pending = self._pending
        if pending is not None and pending[0] == frame.message_id and not pending[1].done():
            pending[1].set_result(frame)

    # --- calls to the station (commands) ---

    async def call(self, action: str, payload: dict[str, Any], deadline: float) -> CallResult | CallErrorFrame:
        """Send a call once every earlier one is answered; TimeoutError at `deadline` (loop time)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        if self._wake is not None:
            self._wake.set()
        loop = asyncio.get_running_loop()
        async with asyncio.timeout_at(deadline):
            async with self._lock:
                if self.close_cause is not None or self.socket.close_code is not None:
                    raise StationGone()
                message_id = f"{next(_call_ids)}"
                future: asyncio.Future[CallResult | CallErrorFrame] = loop.create_future()
                self._pending = (message_id, future)
                try:
                    await self.socket.send(dump_call(message_id, action, payload), text=True)
                    return await future
                finally:
                    self._pending = None

    def fail_pending(self) -> None:
        """The connection is over: whoever waits for an answer learns it now, not at its timeout."""
        pending = self._pending
        if pending is not None and not pending[1].done():
            pending[1].set_exception(StationGone())

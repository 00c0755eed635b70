"""Helpers of the gateway's integration tests, all over the test run's real Kafka.

- `running_gateway`: the gateway app in-process (OCPP listeners on free ports, API through ASGI).
- `FakeAuth`: the auth service's stand-in on Kafka: publishes registry entries and answers decisions.
- `Charger`: an OCPP-J client that also answers the calls the CSMS sends it.
- `EventLog`: everything on the station events topic, for assertions.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import bcrypt
import httpx
from pydantic import SecretStr
from voltline_bus import BusConfig, Producer, RequestReplyClient, reply
from voltline_chassis.station_secrets import make_verifier
from voltline_devinfra.waiting import eventually as eventually  # re-exported for the tests
from voltline_events import Envelope, Event, Topics, decode_payload, envelope_for, station_key
from voltline_events.payloads import (
    AuthorizationDecision,
    AuthorizationRequested,
    BootDecision,
    BootDecisionRequested,
    StationCommand,
    StationCommandResult,
    StationCredentialsRequested,
    StationRegistered,
)
from voltline_gateway.adapters.tail import TopicTail
from voltline_gateway.bootstrap import Internals, build
from voltline_gateway.settings import GatewaySettings
from websockets.asyncio.client import ClientConnection, connect

TOKEN = "test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class RunningGateway:
    settings: GatewaySettings
    internals: Internals
    api: httpx.AsyncClient

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{self.internals.server.ports[0]}/ocpp"

    @property
    def tls_url(self) -> str:
        return f"wss://localhost:{self.internals.server.ports[1]}/ocpp"


@asynccontextmanager
async def running_gateway(
    kafka: Any, prefix: str, instance: str = "gw-test", **overrides: Any
) -> AsyncIterator[RunningGateway]:
    settings = GatewaySettings(
        kafka_bootstrap=kafka.bootstrap_servers,
        topic_prefix=prefix,
        admin_token=SecretStr(TOKEN),
        instance_id=instance,
        ocpp_port=0,
        ocpp_tls_port=0,
        auth_timeout_s=3.0,
        registry_grace_s=0.5,
        presence_interval_s=1.0,
        log_json=False,
        **overrides,
    )
    app = build(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", headers=ADMIN) as api:
            yield RunningGateway(settings, app.state.gateway, api)


def _verifier(password: str, legacy: bool) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode() if legacy else make_verifier(password)


class FakeAuth:
    """Registers stations on the registry topic and answers the gateway's questions like the auth service."""

    def __init__(self, kafka: Any, prefix: str) -> None:
        self.config = BusConfig(bootstrap=kafka.bootstrap_servers, client_id="fake-auth", idempotence=False)
        self.topics = Topics(prefix)
        self.producer = Producer(self.config)
        self.boots: dict[str, str] = {}  # station -> Accepted/Pending/Rejected (absent: Rejected)
        self.tokens: dict[str, str] = {}  # id token -> status (absent: Invalid)
        self.silent: set[str] = set()  # stations whose questions are never answered (the fallback applies)
        self.asked: list[Event] = []
        self.entries: dict[str, StationRegistered] = {}
        self._tail: TopicTail | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.producer.start()
        self._tail = TopicTail(
            self.config, self.producer, self.topics.auth_requests, self._on_request, from_beginning=False
        )
        await self._tail.start()

    async def stop(self) -> None:
        if self._tail is not None:
            await self._tail.stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.producer.stop()

    async def register(
        self,
        station_id: str,
        *,
        profile: int = 0,
        password: str | None = None,
        status: str = "Accepted",
        fingerprint: str | None = None,
        deleted: bool = False,
        legacy: bool = False,
        others: tuple[str, ...] = (),
        publish: bool = True,
    ) -> None:
        """Publish a registry entry (`legacy`: the password as a bcrypt hash; `others`: more passwords accepted
        during a rotation). Without `publish`, only answers to the gateway's questions know it (Kafka's lag)."""
        event = StationRegistered(
            status=status,  # type: ignore[arg-type]
            security_profile=profile,
            password_hash=_verifier(password, legacy) if password else None,
            other_password_hashes=[_verifier(p, legacy) for p in others],
            certificate_fingerprint=fingerprint,
            deleted=deleted,
        )
        self.entries[station_id] = event
        if publish:
            envelope = envelope_for(event, source="auth/fake", station_id=station_id)
            await self.producer.publish(self.topics.station_registry, envelope, key=station_key(station_id))
        self.boots.setdefault(station_id, status)

    def _on_request(self, key: bytes | None, value: bytes | None) -> None:
        envelope = Envelope.from_bytes(value or b"")
        if envelope.station_id in self.silent:
            return
        request = decode_payload(envelope)
        self.asked.append(request)
        if isinstance(request, BootDecisionRequested):
            status = self.boots.get(envelope.station_id or "", "Rejected")
            answer: Event = BootDecision(status=status, interval=300 if status == "Accepted" else 30)  # type: ignore[arg-type]
        elif isinstance(request, StationCredentialsRequested):
            gone = StationRegistered(status="Rejected", security_profile=0, deleted=True)
            answer = self.entries.get(envelope.station_id or "", gone)
        elif isinstance(request, AuthorizationRequested):
            answer = AuthorizationDecision(status=self.tokens.get(request.id_token.id_token, "Invalid"))  # type: ignore[arg-type]
        else:
            return
        task = asyncio.get_running_loop().create_task(reply(self.producer, envelope, answer, source="auth/fake"))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class Operator:
    """What a service does to command stations: StationCommand by request/reply."""

    def __init__(self, auth: FakeAuth, name: str = "ops") -> None:
        self._auth = auth
        self.rpc = RequestReplyClient(auth.config, auth.producer, auth.topics.service_replies(name, "test"))

    async def command(
        self, station_id: str, action: str, payload: dict[str, Any], *, timeout_s: float = 10.0, **extra: Any
    ) -> StationCommandResult:
        command = StationCommand(action=action, payload=payload, timeout_s=timeout_s, **extra)
        envelope = envelope_for(command, source="ops/test", station_id=station_id)
        answer = await self.rpc.request(
            self._auth.topics.station_commands, envelope, key=station_key(station_id), timeout=timeout_s + 5
        )
        result = decode_payload(answer)
        assert isinstance(result, StationCommandResult)
        return result


@dataclass
class Charger:
    """An OCPP-J station: `call` waits for the answer with the same id; calls from the CSMS are answered by
    `answers[action]` (a payload or a function of the request) and recorded in `received`."""

    socket: ClientConnection
    answers: dict[str, Any] = field(default_factory=dict)
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    frames: list[list[Any]] = field(default_factory=list)  # the CSMS's calls as they came
    _pending: dict[str, asyncio.Future[list[Any]]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _reader: asyncio.Task[None] | None = None

    def start(self) -> Charger:
        self._reader = asyncio.get_running_loop().create_task(self._read())
        return self

    async def call(self, action: str, payload: dict[str, Any], *, timeout: float = 10.0) -> list[Any]:  # noqa: ASYNC109
        message_id = f"c{next(self._ids)}"
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        await self.socket.send(json.dumps([2, message_id, action, payload]))
        async with asyncio.timeout(timeout):
            return await future

    async def send_raw(self, text: str | bytes, *, expect: str | None = None, timeout: float = 10.0) -> list[Any]:  # noqa: ASYNC109
        """Send anything; wait for the answer to message id `expect` (default: the CallError for "-1")."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending[expect or "-1"] = future
        await self.socket.send(text)
        async with asyncio.timeout(timeout):
            return await future

    async def answer(self, frame: list[Any], payload: dict[str, Any]) -> None:
        """Answer one of the CSMS's calls by hand (for calls whose `answers` entry is None)."""
        await self.socket.send(json.dumps([3, frame[1], payload]))

    async def _read(self) -> None:
        async for text in self.socket:
            frame = json.loads(text)
            if frame[0] == 2:
                self.received.append((frame[2], frame[3]))
                self.frames.append(frame)
                answer = self.answers.get(frame[2], {})
                if answer is None:  # stay silent: the CSMS's call times out
                    continue
                if isinstance(answer, tuple):  # (code, description): answer with a CallError
                    await self.socket.send(json.dumps([4, frame[1], answer[0], answer[1], {}]))
                    continue
                payload = answer(frame[3]) if callable(answer) else answer
                await self.socket.send(json.dumps([3, frame[1], payload]))
            else:
                future = self._pending.pop(frame[1], None)
                if future is not None and not future.done():
                    future.set_result(frame)


@asynccontextmanager
async def charger(
    base_url: str,
    station_id: str,
    version: str = "ocpp1.6",
    *,
    password: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    **kwargs: Any,
) -> AsyncIterator[Charger]:
    headers = {}
    if password is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{station_id}:{password}".encode()).decode()
    async with connect(
        f"{base_url}/{station_id}",
        subprotocols=[version],  # type: ignore[list-item]
        additional_headers=headers,
        ssl=ssl_context,
        compression=None,
        **kwargs,
    ) as socket:
        station = Charger(socket).start()
        try:
            yield station
        finally:
            if station._reader is not None:
                station._reader.cancel()


class EventLog:
    """Everything published on the station events topic (or `topic`) since `start()` (read without a group)."""

    def __init__(self, kafka: Any, prefix: str, topic: str | None = None) -> None:
        self.config = BusConfig(bootstrap=kafka.bootstrap_servers, client_id="event-log", idempotence=False)
        self.producer = Producer(self.config)
        self.envelopes: list[Envelope] = []
        topic = topic or Topics(prefix).station_events
        self._tail = TopicTail(self.config, self.producer, topic, self._on, from_beginning=True)

    def _on(self, key: bytes | None, value: bytes | None) -> None:
        envelope = Envelope.from_bytes(value or b"")
        assert key == station_key(envelope.station_id or "")
        self.envelopes.append(envelope)

    async def start(self) -> None:
        await self.producer.start()
        await self._tail.start()

    async def stop(self) -> None:
        await self._tail.stop()
        await self.producer.stop()

    def of(self, station_id: str, *types: str) -> list[Envelope]:
        return [e for e in self.envelopes if e.station_id == station_id and (not types or e.type in types)]

    async def wait(self, station_id: str, event_type: str, count: int = 1, within: float = 20.0) -> list[Envelope]:
        await eventually(lambda: len(self.of(station_id, event_type)) >= count, within)
        return self.of(station_id, event_type)

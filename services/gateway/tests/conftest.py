"""Fakes for the unit tests of the gateway's OCPP behaviour: an in-memory bus and connection.

Kafka itself is exercised by the integration tests (test_gateway_*.py, which run the gateway on real Kafka).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from voltline_events import Event
from voltline_events.payloads import AuthorizationDecision
from voltline_gateway.actions import ROUTES
from voltline_gateway.actions.context import BootFallback, Policy
from voltline_gateway.actions.outbound import COMMANDS
from voltline_gateway.adapters.validation import load_schema, schema_path, violation
from voltline_gateway.domain.normalise import Prepared
from voltline_gateway.domain.ocpp_j import CallErrorFrame, CallResult, OcppError
from voltline_gateway.service_layer.dispatch import Dispatcher

sys.path.insert(0, str(Path(__file__).parent))  # so integration tests can import gateway_testing


@dataclass
class RecordingBus:
    """Publishes into a list; answers auth requests with `decision` (None: the auth service is late)."""

    decision: Event | None = None
    fail: bool = False
    published: list[tuple[Event, str, str | None]] = field(default_factory=list)
    asked: list[Event] = field(default_factory=list)

    async def publish(self, event: Event | Prepared, *, station_id: str, message_id: str | None = None) -> None:
        if self.fail:
            raise ConnectionError("kafka unreachable")
        if isinstance(event, Prepared):  # built without validation on the hot path: validate it here
            json.dumps(event.payload)  # JSON-ready as it is
            event = event.event()
        dumped = event.model_dump(mode="json", warnings="error")
        assert type(event).model_validate(dumped).model_dump(mode="json") == dumped
        self.published.append((event, station_id, message_id))

    def publish_soon(
        self, event: Event | Prepared, *, station_id: str, message_id: str | None = None
    ) -> Coroutine[None, None, None]:
        return self.publish(event, station_id=station_id, message_id=message_id)

    async def ask_auth(self, request: Event, *, station_id: str, message_id: str | None = None) -> Event | None:
        self.asked.append(request)
        return self.decision

    @property
    def events(self) -> list[Event]:
        return [e for e, _, _ in self.published]


@dataclass
class FakeLink:
    station_id: str = "CP-1"
    ocpp_version: str = "ocpp1.6"
    vendor: str | None = None
    model: str | None = None
    quirks: frozenset[str] = frozenset()
    allowed: bool = True
    refuse: OcppError | None = None
    resolved: list[CallResult | CallErrorFrame] = field(default_factory=list)
    boots: list[tuple[str, str, str]] = field(default_factory=list)

    def allow_frame(self) -> bool:
        return self.allowed

    def refusal(self, action: str) -> OcppError | None:
        return self.refuse

    def resolve(self, frame: CallResult | CallErrorFrame) -> None:
        self.resolved.append(frame)

    def booted(self, vendor: str, model: str, status: str) -> None:
        self.vendor, self.model = vendor, model
        self.boots.append((vendor, model, status))


Answer = Callable[..., Awaitable[Any]]


@pytest.fixture
def bus() -> RecordingBus:
    return RecordingBus()


@pytest.fixture
def accepted() -> AuthorizationDecision:
    return AuthorizationDecision(status="Accepted", group_id_token="GROUP-1")


@pytest.fixture
def answer(bus: RecordingBus) -> Answer:
    """answer(frame, version="ocpp1.6", link=None, policy=None) -> the decoded reply (None if none)."""

    async def run(
        frame: Any, version: str = "ocpp1.6", link: FakeLink | None = None, policy: Policy | None = None
    ) -> Any:
        dispatcher = Dispatcher(
            ROUTES, COMMANDS, bus, policy or Policy(boot=BootFallback("Pending", 42)), schemas=violation
        )
        text = frame if isinstance(frame, str | bytes) else json.dumps(frame)
        reply = await dispatcher.answer(link or FakeLink(ocpp_version=version), text)
        return None if reply is None else json.loads(reply)

    return run


@pytest.fixture
def link_factory() -> Callable[..., FakeLink]:
    return FakeLink


class Examples:
    """Valid payloads generated from the official schemas."""

    @staticmethod
    def resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = root["definitions"][node["$ref"].split("/")[-1]]
        return node

    @classmethod
    def example(cls, node: dict[str, Any], root: dict[str, Any], full: bool) -> Any:
        """A valid instance: every property (full) or only the required ones."""
        node = cls.resolve(node, root)
        kind = node.get("type")
        if "enum" in node:
            return node["enum"][-1]
        if kind == "object":
            props = node.get("properties", {})
            keys = props if full else node.get("required", [])
            return {k: cls.example(props[k], root, full) for k in keys}
        if kind == "array":
            count = max(node.get("minItems", 1), 1)
            return [cls.example(node.get("items", {}), root, full) for _ in range(count)]
        if kind == "string":
            if node.get("format") == "date-time":
                return "2024-05-01T12:30:00.123Z"
            return "x" * max(1, min(node.get("maxLength", 8), 8))
        if kind == "integer":
            return node.get("minimum", min(node.get("maximum", 1), 1))
        if kind == "number":
            return node.get("minimum", min(node.get("maximum", 1.5), 1.5))
        if kind == "boolean":
            return True
        return "anything"

    @classmethod
    def payload(cls, version: str, action: str, *, response: bool = False, full: bool = False) -> Any:
        schema = load_schema(schema_path(version, action, response=response))
        return cls.example(schema, schema, full)


@pytest.fixture
def examples() -> type[Examples]:
    return Examples

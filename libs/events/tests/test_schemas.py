"""The JSON Schemas are the contract: current ones are generated from the models, released ones never break."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from voltline_events import Envelope, decode_payload, envelope_for
from voltline_events.compat import breaking_changes
from voltline_events.payloads import BootNotification, ConnectorStatus
from voltline_events.schemagen import RELEASED, default_dir, expected_schemas, released_schemas, render
from voltline_events.topics import LIFECYCLE_EVENT_TYPES


@pytest.mark.parametrize("rel", sorted(expected_schemas()))
def test_committed_schema_is_generated_from_the_model(rel: str) -> None:
    path = default_dir() / rel
    assert path.exists(), f"{rel} missing: run `make schemas`"
    assert path.read_text() == render(expected_schemas()[rel]), f"schemas/{rel} is stale: run `make schemas`"


def test_no_stray_schema_files() -> None:
    root = default_dir()
    committed = {str(p.relative_to(root)) for p in root.rglob("*.json") if p.relative_to(root).parts[0] != RELEASED}
    assert committed == set(expected_schemas())


@pytest.mark.parametrize("rel", sorted(released_schemas()))
def test_current_schema_is_compatible_with_the_released_one(rel: str) -> None:
    current = expected_schemas()
    assert rel in current, f"{rel} was released and must stay (add a new VERSION beside it, never remove one)"
    problems = breaking_changes(released_schemas()[rel], current[rel])
    assert not problems, f"{rel} changed incompatibly (a new VERSION class and an upcaster are needed): {problems}"


def _schema(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": [k for k in props if not k.startswith("opt")]}


def test_the_compatibility_check_allows_optional_additions_and_refuses_the_rest() -> None:
    released = _schema(a={"type": "string"}, b={"type": "integer"})
    assert breaking_changes(released, {**_schema(a={"type": "string"}, b={"type": "integer"})}) == []
    grown = _schema(a={"type": "string", "description": "new words"}, b={"type": "integer"}, opt_c={"type": "string"})
    assert breaking_changes(released, grown) == []
    assert breaking_changes(released, _schema(a={"type": "string"})) == ["$.b: removed", "$.b: no longer required"]
    assert breaking_changes(released, _schema(a={"type": "string"}, b={"type": "string"})) == [
        "$.b: type changed from 'integer' to 'string'"
    ]
    assert breaking_changes(released, _schema(a={"type": "string"}, b={"type": "integer"}, c={"type": "string"})) == [
        "$.c: now required"
    ]
    closed = {**released, "additionalProperties": False}
    assert breaking_changes(released, closed) == ["$: now forbids unknown properties"]
    assert breaking_changes(closed, released) == []  # opening up is compatible


def test_envelopes_and_payloads_ignore_fields_they_do_not_know() -> None:
    payload = ConnectorStatus(ocpp_version="ocpp1.6", connector_id=1, status="Available")
    wire = json.loads(envelope_for(payload, source="gateway/gw-1", station_id="CP-1").to_bytes())
    wire["added_in_envelope_v2"] = {"anything": 1}
    wire["payload"]["added_later"] = "x"
    env = Envelope.from_bytes(json.dumps(wire).encode())
    assert decode_payload(env) == payload


def test_envelope_on_the_wire_validates_against_committed_schemas() -> None:
    payload = BootNotification(ocpp_version="ocpp1.6", vendor="ACME", model="X1", raw={"a": 1})
    env = envelope_for(payload, source="gateway/gw-1", station_id="CP-1", message_id="m1")
    wire = json.loads(env.to_bytes())
    schemas = default_dir()
    jsonschema.validate(wire, json.loads((schemas / "envelope.v1.json").read_text()))
    jsonschema.validate(wire["payload"], json.loads((schemas / "events/station.boot_notification.v1.json").read_text()))
    assert Envelope.from_bytes(env.to_bytes()) == env


def test_the_lifecycle_topic_carries_registered_events_and_says_which() -> None:
    """schemas/topics/: a record of the station lifecycle topic (ADR 0037) is an envelope of one of a few types."""
    schema = json.loads((default_dir() / "topics/voltline.station.lifecycle.v1.json").read_text())
    assert set(schema["properties"]["type"]["enum"]) == LIFECYCLE_EVENT_TYPES
    for rel in schema["x-payloads"]:
        assert (default_dir() / rel).exists(), rel
    boot = envelope_for(
        BootNotification(ocpp_version="ocpp1.6", vendor="ACME", model="X1", raw={}), source="gw", station_id="CP-1"
    )
    jsonschema.validate(json.loads(boot.to_bytes()), schema)
    status = envelope_for(
        ConnectorStatus(ocpp_version="ocpp1.6", connector_id=1, status="Available"), source="gw", station_id="CP-1"
    )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(status.to_bytes()), schema)

"""The committed JSON Schemas are the contract; these tests fail when models and schemas drift."""

from __future__ import annotations

import json

import jsonschema
import pytest
from voltline_events import Envelope, envelope_for
from voltline_events.payloads import BootNotification
from voltline_events.schemagen import default_dir, expected_schemas, render


@pytest.mark.parametrize("rel", sorted(expected_schemas()))
def test_committed_schema_matches_model(rel: str) -> None:
    path = default_dir() / rel
    assert path.exists(), f"{rel} missing: run `python -m voltline_events.schemagen`"
    assert path.read_text() == render(expected_schemas()[rel]), (
        f"schemas/{rel} drifted from its model; a breaking change needs a new version"
    )


def test_no_stray_schema_files() -> None:
    committed = {str(p.relative_to(default_dir())) for p in default_dir().rglob("*.json")}
    assert committed == set(expected_schemas())


def test_envelope_on_the_wire_validates_against_committed_schemas() -> None:
    payload = BootNotification(ocpp_version="ocpp1.6", vendor="ACME", model="X1", raw={"a": 1})
    env = envelope_for(payload, source="gateway/gw-1", station_id="CP-1", message_id="m1")
    wire = json.loads(env.to_bytes())
    schemas = default_dir()
    jsonschema.validate(wire, json.loads((schemas / "envelope.v1.json").read_text()))
    jsonschema.validate(wire["payload"], json.loads((schemas / "events/station.boot_notification.v1.json").read_text()))
    assert Envelope.from_bytes(env.to_bytes()) == env

"""Writes the JSON Schemas in `schemas/` from the models: `python -m voltline_events.schemagen [--release] [DIR]`.

`schemas/*.json`, `schemas/events/` and `schemas/topics/` (what a topic of a few event types carries) are the
current contracts (regenerate them after any model change).
`schemas/released/` is the last release's: the contract tests check that every current schema is compatible
with its released counterpart (voltline_events.compat). `--release` (at a release) copies the current
schemas there; released schemas are never deleted, so a released (type, version) cannot silently disappear.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from voltline_events.envelope import Envelope
from voltline_events.registry import registered_events
from voltline_events.topics import LIFECYCLE_EVENT_TYPES

# Topics whose records are a chosen few event types (a contract of their own): name -> (types, description).
CARRYING: dict[str, tuple[frozenset[str], str]] = {
    "voltline.station.lifecycle.v1": (
        LIFECYCLE_EVENT_TYPES,
        "Copies of the rare station events (same envelope and event id as on voltline.station.events.v1), "
        "published by the gateway, keyed by station id, in the station's order (ADR 0037).",
    ),
}


def expected_schemas() -> dict[str, dict[str, Any]]:
    """File name (relative to schemas/) -> schema, for the envelope and every registered event."""
    out: dict[str, dict[str, Any]] = {"envelope.v1.json": _with_id(Envelope.model_json_schema(), "envelope.v1")}
    for (event_type, version), model in sorted(registered_events().items()):
        name = f"{event_type}.v{version}"
        schema = _with_id(model.model_json_schema(), name)
        schema["x-event-type"] = event_type
        schema["x-schema-version"] = version
        out[f"events/{name}.json"] = schema
    for topic, (types, description) in CARRYING.items():
        out[f"topics/{topic}.json"] = _topic_schema(topic, types, description)
    return out


def _topic_schema(topic: str, types: frozenset[str], description: str) -> dict[str, Any]:
    """A record of `topic`: an envelope (envelope.v1.json) of one of `types`, each payload per its event schema."""
    payloads = sorted(f"events/{t}.v{v}.json" for t, v in registered_events() if t in types)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"voltline:topic:{topic}",
        "title": topic,
        "description": description,
        "type": "object",
        "properties": {"type": {"enum": sorted(types)}, "station_id": {"type": "string"}},
        "required": ["type", "station_id"],
        "x-envelope": "envelope.v1.json",
        "x-key": "station_id",
        "x-payloads": payloads,
    }


def _with_id(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"voltline:{name}", **schema}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


RELEASED = "released"


def default_dir() -> Path:
    return Path(__file__).resolve().parents[4] / "schemas"


def released_schemas(schemas_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """File name (relative to schemas/released/) -> schema, as last released."""
    root = (schemas_dir or default_dir()) / RELEASED
    return {str(p.relative_to(root)): json.loads(p.read_text()) for p in sorted(root.rglob("*.json"))}


def main() -> None:
    args = sys.argv[1:]
    release = "--release" in args
    args = [a for a in args if a != "--release"]
    target = Path(args[0]) if args else default_dir()
    if release:
        target = target / RELEASED
    for rel, schema in expected_schemas().items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(schema))
        print(path)


if __name__ == "__main__":
    main()

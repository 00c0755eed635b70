"""The fast validator accepts and rejects exactly what jsonschema does with the official schemas.

For every request and response schema of 1.6, 2.0.1 and 2.1 a valid instance is generated from the schema,
then mutated at every node (missing required field, unknown field, wrong type, enum outside the set,
boundary and out-of-range numbers and lengths, bad timestamps, empty and oversized arrays, ...). Both
validators judge every instance; any disagreement fails. A corpus of realistic payloads from chargers
(valid, and broken the ways chargers break them) is judged the same way.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from voltline_gateway.adapters.validation import SCHEMA_DIRS, load_schema, schema_path, validator
from voltline_gateway.domain.ocpp_j import OCPP16

Json = Any
MISSING = object()


def reference(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """jsonschema with the draft the schema declares, asserting date-time like the fast validator."""
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=jsonschema.FormatChecker(formats=["date-time"]))


def wrong_values(node: dict[str, Any], value: Json) -> Iterator[Json]:
    """Replacements for a value: boundaries, neighbours across them, other types."""
    yield from (None, True, 0, 1, 1.0, -1, 2.5, "", "text", [], {})
    for enum in node.get("enum", [])[:3]:
        yield enum
        yield enum.lower()
    if "enum" in node:
        yield "NotAnEnumValue"
    if "maxLength" in node:
        yield "y" * node["maxLength"]
        yield "y" * (node["maxLength"] + 1)
    for key, step in (("minimum", -1), ("maximum", 1)):
        if key in node:
            yield node[key]
            yield node[key] + step
            yield node[key] + step * 0.5
    if "multipleOf" in node:
        yield from (21.4, 4.11, 0.1, 7)
    if node.get("format") == "date-time":
        yield from (
            "2024-05-01T12:30:00",
            "2024-05-01T12:30:00+02:00",
            "2024-02-30T00:00:00Z",
            "2024-05-01 12:30:00Z",
            "yesterday",
        )
    if isinstance(value, list):
        yield []
        yield value * (node.get("maxItems", 1) + 1)
    if isinstance(value, dict):
        yield {**value, "zzUnknownField": 1}


def resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = root["definitions"][node["$ref"].split("/")[-1]]
    return node


def mutations(instance: Json, node: dict[str, Any], root: dict[str, Any]) -> Iterator[Json]:
    """The instance with one node changed, for every node (as a full copy each time)."""
    node = resolve(node, root)
    yield from wrong_values(node, instance)
    if isinstance(instance, dict):
        props = node.get("properties", {})
        for key in list(instance):
            without = dict(instance)
            del without[key]
            yield without
            for inner in mutations(instance[key], props.get(key, {}), root):
                yield {**instance, key: inner}
    elif isinstance(instance, list) and instance:
        for inner in mutations(instance[0], node.get("items", {}), root):
            yield [inner, *copy.deepcopy(instance[1:])]


def to_decimal(value: Json) -> Json:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, list):
        return [to_decimal(v) for v in value]
    if isinstance(value, dict):
        return {k: to_decimal(v) for k, v in value.items()}
    return value


def schema_files() -> list[tuple[str, str, bool]]:
    out = []
    for version, folder in SCHEMA_DIRS.items():
        root = schema_path(version, "X", response=False).parent
        assert root.name == "schemas" and folder in str(root)
        for path in sorted(root.glob("*.json")):
            response = path.stem.endswith("Response")
            action = path.stem.removesuffix("Response") if response else path.stem.removesuffix("Request")
            out.append((version, action, response))
    return out


def judge(version: str, action: str, response: bool, instances: list[Json]) -> tuple[int, int]:
    path = schema_path(version, action, response=response)
    schema = load_schema(path)
    decimals = version == OCPP16 and "multipleOf" in path.read_text()
    ref = reference(json.loads(path.read_text(encoding="utf-8-sig"), parse_float=Decimal) if decimals else schema)
    fast = validator(version, action, response)
    assert fast is not None
    valid = invalid = 0
    for instance in instances:
        expected = ref.is_valid(to_decimal(instance) if decimals else instance)
        try:
            fast(instance)
            got = True
        except Exception:
            got = False
        assert got == expected, (path.name, json.dumps(instance, default=str)[:500])
        valid += expected
        invalid += not expected
    return valid, invalid


# Per schema, an evenly spread sample of this many mutants runs by default (about 30 s for all schemas);
# VOLTLINE_FULL_CORPUS=1 judges every mutant (about 100,000).
SAMPLE = 0 if os.environ.get("VOLTLINE_FULL_CORPUS") else 150


@pytest.mark.parametrize(("version", "action", "response"), schema_files())
def test_generated_corpus_is_judged_the_same(version: str, action: str, response: bool, examples: Any) -> None:
    schema = load_schema(schema_path(version, action, response=response))
    bases = [examples.example(schema, schema, full) for full in (True, False)]
    mutants = [m for base in bases for m in mutations(base, schema, schema)]
    if SAMPLE and len(mutants) > SAMPLE:
        stride = len(mutants) / SAMPLE
        mutants = [mutants[int(i * stride)] for i in range(SAMPLE)]
    valid, invalid = judge(version, action, response, bases + mutants)
    assert valid >= 1 and invalid >= 1


CORPUS = Path(__file__).parent / "corpus"


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.json")), ids=lambda p: p.stem)
def test_real_world_corpus_is_judged_the_same(path: Path) -> None:
    """corpus/<version>.json: [{"action", "response"?, "valid": bool, "payload"}] from chargers in the field."""
    cases = json.loads(path.read_text())
    version = {"ocpp16": "ocpp1.6", "ocpp201": "ocpp2.0.1", "ocpp21": "ocpp2.1"}[path.stem]
    for case in cases:
        response = case.get("response", False)
        judge(version, case["action"], response, [case["payload"]])
        fast = validator(version, case["action"], response)
        assert fast is not None
        try:
            fast(copy.deepcopy(case["payload"]))
            ok = True
        except Exception:
            ok = False
        assert ok is case["valid"], case

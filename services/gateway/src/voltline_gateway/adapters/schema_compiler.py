"""A JSON Schema compiler for the subset of draft 4 / draft 6 the OCPP schemas use, into plain Python.

Why not a general validator: jsonschema interprets the schema for every message (300-800 us for a 1 KB
MeterValues) and general code generators check an enum as a chain of comparisons. OCPP schemas use a dozen
keywords; compiled here, an enum is one set lookup, `additionalProperties: false` one set comparison,
and `$ref`s are inlined. Unknown keywords refuse to compile, so a new schema cannot silently check less.
Acceptance is proven equal to jsonschema's by tests/test_validation_equivalence.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

# Keywords that carry no constraint (annotations), and the ones compiled below.
_IGNORED = frozenset(
    {"$schema", "$id", "id", "title", "description", "javaType", "comment", "default", "definitions", "tsEnumNames"}
)
_HANDLED = frozenset(
    {
        "$ref", "type", "properties", "required", "additionalProperties", "additionalItems", "enum", "items",
        "minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum", "format", "multipleOf",
    }
)  # fmt: skip


class SchemaError(Exception):
    """The schema uses something this compiler does not implement."""


class Invalid(Exception):
    """The first violation found: keyword, path (keys and indexes), the sub-schema and the offending value."""

    def __init__(self, rule: str, path: tuple[str | int, ...], definition: dict[str, Any], value: Any) -> None:
        super().__init__(rule)
        self.rule, self.path, self.definition, self.value = rule, path, definition, value


def _fail(rule: str, path: tuple[str | int, ...], definition: dict[str, Any], value: Any) -> None:
    raise Invalid(rule, path, definition, value)


def _multiple_of(value: Any, step: Any) -> bool:
    if isinstance(value, int) and isinstance(step, int):
        return value % step == 0
    quotient = Decimal(repr(value)) / Decimal(repr(step))  # decimal, not float: 21.4 is a multiple of 0.1
    return quotient == int(quotient)


class _Compiler:
    def __init__(self, root: dict[str, Any], formats: dict[str, Callable[[str], bool]]) -> None:
        self.root = root
        self.draft4 = "draft-04" in str(root.get("$schema", "draft-04"))
        self.formats = formats
        self.consts: dict[str, Any] = {}
        self.lines: list[str] = []
        self.names = itertools.count()
        self.resolving: list[str] = []

    def const(self, value: Any) -> str:
        name = f"K{next(self.names)}"
        self.consts[name] = value
        return name

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def node(self, schema: dict[str, Any], var: str, path: tuple[str, ...], depth: int) -> None:
        """Emit checks of `var` (an expression bound to a local) against `schema`."""
        if "$ref" in schema:
            ref = schema["$ref"]
            if not ref.startswith("#/definitions/") or ref in self.resolving:
                raise SchemaError(f"unsupported or recursive $ref {ref!r}")
            self.resolving.append(ref)
            self.node(self.root["definitions"][ref.split("/")[-1]], var, path, depth)
            self.resolving.pop()
            return  # draft 4/6: siblings of $ref are ignored
        unknown = set(schema) - _IGNORED - _HANDLED
        if unknown:
            raise SchemaError(f"unsupported keywords {sorted(unknown)}")
        d = self.const(schema)
        rendered = "(" + "".join(f"{p}, " for p in path) + ")"  # evaluated only when the check fails
        fail = f"_fail({{rule!r}}, {rendered}, {d}, {var})"
        kind = schema.get("type")
        if kind is not None:
            if not isinstance(kind, str):
                raise SchemaError("a list of types is not supported")
            self.emit(depth, f"if not ({self.type_test(kind, var)}): " + fail.format(rule="type"))
        if "enum" in schema:
            values = schema["enum"]
            if not all(isinstance(v, str) for v in values):
                raise SchemaError("only string enums are supported")
            known = self.const(frozenset(values))
            test = f"{var} in {known}" if kind == "string" else f"isinstance({var}, str) and {var} in {known}"
            self.emit(depth, f"if not ({test}): " + fail.format(rule="enum"))
        # Past a type check the type is known: keyword checks of other types are skipped, guards dropped.
        if kind in (None, "string"):
            self.strings(schema, var, fail, depth, guard=kind is None)
        if kind in (None, "number", "integer"):
            self.numbers(schema, var, fail, depth, guard=kind is None)
        if kind in (None, "array"):
            self.arrays(schema, var, path, fail, depth, guard=kind is None)
        if kind in (None, "object"):
            self.objects(schema, var, path, fail, depth, guard=kind is None)

    def type_test(self, kind: str, var: str) -> str:
        number = f"(isinstance({var}, (int, float)) and not isinstance({var}, bool))"
        integer = f"(type({var}) is int or (isinstance({var}, int) and not isinstance({var}, bool))"
        if not self.draft4:  # draft 6: 1.0 is an integer too
            integer += f" or (isinstance({var}, float) and {var}.is_integer())"
        return {
            "object": f"isinstance({var}, dict)",
            "array": f"isinstance({var}, list)",
            "string": f"isinstance({var}, str)",
            "boolean": f"isinstance({var}, bool)",
            "null": f"{var} is None",
            "number": number,
            "integer": integer + ")",
        }[kind]

    def guarded(self, depth: int, guard: str | None) -> int:
        """Open `if guard:` when the type is not known yet; the depth to emit the checks at."""
        if guard is None:
            return depth
        self.emit(depth, f"if {guard}:")
        return depth + 1

    def strings(self, schema: dict[str, Any], var: str, fail: str, depth: int, *, guard: bool) -> None:
        checks = []
        if "minLength" in schema:
            checks.append((f"len({var}) < {int(schema['minLength'])}", "minLength"))
        if "maxLength" in schema:
            checks.append((f"len({var}) > {int(schema['maxLength'])}", "maxLength"))
        if schema.get("format") in self.formats:
            checks.append((f"not {self.const(self.formats[schema['format']])}({var})", "format"))
        if checks:
            inner = self.guarded(depth, f"isinstance({var}, str)" if guard else None)
            for test, rule in checks:
                self.emit(inner, f"if {test}: " + fail.format(rule=rule))

    def numbers(self, schema: dict[str, Any], var: str, fail: str, depth: int, *, guard: bool) -> None:
        checks = []
        if "minimum" in schema:
            checks.append((f"{var} < {self.const(schema['minimum'])}", "minimum"))
        if "maximum" in schema:
            checks.append((f"{var} > {self.const(schema['maximum'])}", "maximum"))
        if "multipleOf" in schema:
            checks.append((f"not _multiple_of({var}, {self.const(schema['multipleOf'])})", "multipleOf"))
        if checks:
            number = f"isinstance({var}, (int, float)) and not isinstance({var}, bool)"
            inner = self.guarded(depth, number if guard else None)
            for test, rule in checks:
                self.emit(inner, f"if {test}: " + fail.format(rule=rule))

    def arrays(
        self, schema: dict[str, Any], var: str, path: tuple[str, ...], fail: str, depth: int, *, guard: bool
    ) -> None:
        items = schema.get("items")
        if not ({"minItems", "maxItems"} & set(schema) or items):
            return
        if items is not None and not isinstance(items, dict):
            raise SchemaError("only a single `items` schema is supported")
        inner = self.guarded(depth, f"isinstance({var}, list)" if guard else None)
        if "minItems" in schema:
            self.emit(inner, f"if len({var}) < {int(schema['minItems'])}: " + fail.format(rule="minItems"))
        if "maxItems" in schema:
            self.emit(inner, f"if len({var}) > {int(schema['maxItems'])}: " + fail.format(rule="maxItems"))
        if items:
            index, item = f"i{next(self.names)}", f"v{next(self.names)}"
            self.emit(inner, f"for {index}, {item} in enumerate({var}):")
            before = len(self.lines)
            self.node(items, item, (*path, index), inner + 1)
            if len(self.lines) == before:
                self.emit(inner + 1, "pass")

    def objects(
        self, schema: dict[str, Any], var: str, path: tuple[str, ...], fail: str, depth: int, *, guard: bool
    ) -> None:
        props: dict[str, Any] = schema.get("properties", {})
        required = schema.get("required", [])
        closed = schema.get("additionalProperties") is False
        if not (props or required or closed):
            return
        if not isinstance(schema.get("additionalProperties", True), bool):
            raise SchemaError("additionalProperties must be a boolean")
        inner = self.guarded(depth, f"isinstance({var}, dict)" if guard else None)
        if required:
            test = " or ".join(f"{k!r} not in {var}" for k in required)
            self.emit(inner, f"if {test}: " + fail.format(rule="required"))
        if closed:
            allowed = self.const(frozenset(props))
            self.emit(inner, f"if not {var}.keys() <= {allowed}: " + fail.format(rule="additionalProperties"))
        for key, sub in props.items():
            child = f"v{next(self.names)}"
            mark = len(self.lines)
            self.emit(inner, f"{child} = {var}.get({key!r}, _MISSING)")
            self.emit(inner, f"if {child} is not _MISSING:")
            before = len(self.lines)
            self.node(sub, child, (*path, repr(key)), inner + 1)
            if len(self.lines) == before:  # nothing to check: no lookup either
                del self.lines[mark:]


def compile_schema(schema: dict[str, Any], formats: dict[str, Callable[[str], bool]]) -> Callable[[Any], None]:
    """A function that returns None for a valid instance and raises Invalid for the first violation."""
    compiler = _Compiler(schema, formats)
    compiler.node(schema, "data", (), 1)
    source = "def validate(data):\n" + "\n".join(compiler.lines or ["    pass"]) + "\n"
    namespace: dict[str, Any] = {"_fail": _fail, "_multiple_of": _multiple_of, "_MISSING": object(), **compiler.consts}
    exec(compile(source, f"<schema {schema.get('title') or schema.get('$id') or '?'}>", "exec"), namespace)
    validate: Callable[[Any], None] = namespace["validate"]
    return validate

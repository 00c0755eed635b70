"""Is a new event schema compatible with the released one? (Used by the contract tests and `make schemas`.)

Compatible means both ways: a consumer built against the released schema reads the new events, and a new
consumer reads events that were produced (or sit in a backlog) under the released one. So a new version of
the same (type, VERSION) may only add optional properties, relax `additionalProperties`, or change
annotations (title, description, examples, defaults). Removing a property, changing its type, an enum, a
constraint, or whether it is required is breaking: that needs a new VERSION class and an upcaster.
"""

from __future__ import annotations

import json
from typing import Any

_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "$id", "$schema", "$comment", "$defs"})


def _resolve(node: Any, root: dict[str, Any]) -> Any:
    """Inline local `$ref`s ("#/$defs/X") so two schemas compare by meaning, not by layout."""
    if isinstance(node, dict):
        if "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"only local $refs are supported, got {ref!r}")
            target: Any = root
            for part in ref[2:].split("/"):
                target = target[part]
            merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
            return _resolve(merged, root)
        return {k: _resolve(v, root) for k, v in node.items() if not k.startswith("x-")}
    if isinstance(node, list):
        return [_resolve(v, root) for v in node]
    return node


def _canonical(node: Any) -> str:
    return json.dumps(_strip(node), sort_keys=True)


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in _ANNOTATIONS}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _compare(old: Any, new: Any, path: str, problems: list[str]) -> None:
    if not isinstance(old, dict) or not isinstance(new, dict):
        if _canonical(old) != _canonical(new):
            problems.append(f"{path}: changed")
        return
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, old_prop in old_props.items():
        if name not in new_props:
            problems.append(f"{path}.{name}: removed")
        else:
            _compare(old_prop, new_props[name], f"{path}.{name}", problems)
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    problems.extend(f"{path}.{n}: now required" for n in sorted(new_required - old_required))
    problems.extend(f"{path}.{n}: no longer required" for n in sorted(old_required - new_required))
    if new.get("additionalProperties", True) is False and old.get("additionalProperties", True) is not False:
        problems.append(f"{path}: now forbids unknown properties")
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        old_list, new_list = old.get(key), new.get(key)
        if old_list is None and new_list is None:
            continue
        if old_list is None or new_list is None or len(old_list) != len(new_list):
            problems.append(f"{path}: {key} changed")
            continue
        for i, (o, n) in enumerate(zip(_sorted(old_list), _sorted(new_list), strict=True)):
            _compare(o, n, f"{path}.{key}[{i}]", problems)
    if "items" in old or "items" in new:
        _compare(old.get("items"), new.get("items"), f"{path}[]", problems)
    if isinstance(old.get("additionalProperties"), dict) or isinstance(new.get("additionalProperties"), dict):
        _compare(old.get("additionalProperties"), new.get("additionalProperties"), f"{path}{{}}", problems)
    structural = {"properties", "required", "additionalProperties", "anyOf", "oneOf", "allOf", "prefixItems", "items"}
    for key in sorted((set(old) | set(new)) - _ANNOTATIONS - structural):
        if key.startswith("x-"):
            continue
        if _canonical(old.get(key)) != _canonical(new.get(key)):
            problems.append(f"{path}: {key} changed from {old.get(key)!r} to {new.get(key)!r}")


def _sorted(items: list[Any]) -> list[Any]:
    return sorted(items, key=_canonical)


def breaking_changes(released: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Every incompatibility between a released schema and the current one of the same name ([] if none)."""
    problems: list[str] = []
    _compare(_resolve(released, released), _resolve(current, current), "$", problems)
    return problems

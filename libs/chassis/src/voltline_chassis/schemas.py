"""Building blocks of response models, so every route's OpenAPI says what it returns.

Response models document routes that build their JSON themselves: they must not change a byte of it.
Hence ``ResponseModel`` keeps fields it does not declare (``extra="allow"``), ``returns()`` leaves out
fields the route did not return (``exclude_unset``), and ``Timestamp``/``DecimalText`` pass a value through
as it came (a route that wrote ``+00:00`` keeps it; pydantic would otherwise re-render it as ``Z``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, WithJsonSchema

T = TypeVar("T")

# An RFC 3339 instant: a datetime (rendered by pydantic) or a string the route rendered itself.
Timestamp = Annotated[
    datetime | str,
    WithJsonSchema({"type": "string", "format": "date-time", "examples": ["2026-11-20T10:00:00Z"]}),
]
# An amount or quantity as a decimal string ("4.92"), never a float.
DecimalText = Annotated[
    Decimal | str,
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "examples": ["4.92"]}),
]


class ResponseModel(BaseModel):
    """Base of response models: documents the fields, keeps any the route adds that it does not name."""

    model_config = ConfigDict(extra="allow")


class Items(ResponseModel, Generic[T]):
    """A list that is never paged (it is short by nature): ``{"items": [...]}`` without ``next_offset``."""

    items: list[T]


def returns(model: Any) -> dict[str, Any]:
    """Decorator arguments that type a route returning plain JSON without changing that JSON.

    ``@router.get("/x", **returns(XOut))``: the schema appears in OpenAPI, absent fields stay absent.
    """
    return {"response_model": model, "response_model_exclude_unset": True}


def media(media_type: str, description: str, status: int = 200, binary: bool = False) -> dict[int | str, Any]:
    """``responses=`` of a route that answers something other than JSON (CSV, HTML, PDF, SSE, a file)."""
    schema: dict[str, Any] = {"type": "string", "format": "binary"} if binary else {"type": "string"}
    return {status: {"description": description, "content": {media_type: {"schema": schema}}}}


CSV = media("text/csv", "CSV, one row per item, with a header row")


def untyped_responses(openapi: dict[str, Any]) -> list[str]:
    """Routes whose 2xx answer has no schema, or only a bare object/any (a test fails on any).

    Non-JSON answers (CSV, HTML, PDF, SSE, files) pass when they declare their media type; 204 has no body.
    """
    bad: list[str] = []
    for path, operations in openapi.get("paths", {}).items():
        for method, operation in operations.items():
            for code, response in operation.get("responses", {}).items():
                if not str(code).startswith("2") or str(code) == "204":
                    continue
                where = f"{method.upper()} {path} {code}"
                content = response.get("content") or {}
                if not content:
                    bad.append(f"{where}: no content declared")
                for media, body in content.items():
                    if "json" in media and _bare(body.get("schema") or {}):
                        bad.append(f"{where}: {media} has no schema beyond a bare object")
    return bad


def _bare(schema: dict[str, Any]) -> bool:
    if "$ref" in schema or "properties" in schema or schema.get("type") == "array":
        return False
    variants = schema.get("anyOf") or schema.get("oneOf")
    if variants:
        return all(_bare(v) for v in variants)
    return True

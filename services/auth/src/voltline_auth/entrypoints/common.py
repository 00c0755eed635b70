"""What every router of the auth API shares: paging, id formats, and errors that name their field."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field
from voltline_chassis.problems import Problem
from voltline_chassis.validation import MAX_OFFSET

T = TypeVar("T")

IDENTIFIER = r"^[a-zA-Z0-9*\-_=:+|@.]+$"  # OCPP identifierString
StationIdStr = Annotated[str, Field(min_length=1, max_length=48, pattern=IDENTIFIER)]
ListIdStr = Annotated[str, Field(min_length=1, max_length=48, pattern=IDENTIFIER)]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip; pass the previous page's next_offset.")]
TokenTypeQuery = Annotated[
    str | None, Query(description="The token's type, needed only when several tokens share the id.")
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_offset: int | None = Field(description="Offset of the next page; null on the last one.")

    @classmethod
    def of(cls, items: Sequence[Any], limit: int, offset: int) -> Any:
        return cls(items=list(items), next_offset=offset + limit if len(items) == limit else None)


def invalid(field: str, message: str, title: str = "Invalid request") -> Problem:
    return Problem(422, message, title=title, extra={"errors": [{"field": f"body.{field}", "message": message}]})


def not_found(what: str, ident: str, **extra: str) -> Problem:
    return Problem(404, f"No {what} {ident!r} exists.", extra=extra)


def conflict(message: str, **extra: Any) -> Problem:
    return Problem(409, message, extra=extra)

"""One paging convention for every list of every service (README.md, "Lists and paging").

A list takes `limit` (1-1000, default 100) and `offset` (default 0) and answers
`{"items": [...], "next_offset": N | null}`: `next_offset` is the offset of the next page, null exactly when
this page is the last. Routes fetch `limit + 1` rows (`fetch_size`) so they know whether more follow, without
counting the whole table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Generic, Self, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from voltline_chassis.validation import MAX_OFFSET

T = TypeVar("T")

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (at most 1000).")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip: pass the previous page's next_offset.")]


def fetch_size(limit: int) -> int:
    """How many rows to ask the store for: one more than the page, to know whether another page follows."""
    return limit + 1


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_offset: int | None = Field(description="Offset of the next page; null on the last one.")

    @classmethod
    def of(cls, fetched: Sequence[Any], limit: int, offset: int) -> Self:
        """The page from `fetched` (up to `fetch_size(limit)` rows)."""
        return cls(items=list(fetched[:limit]), next_offset=next_offset(fetched, limit, offset))


def next_offset(fetched: Sequence[Any], limit: int, offset: int) -> int | None:
    return offset + limit if len(fetched) > limit else None


def page(fetched: Sequence[Any], limit: int, offset: int) -> dict[str, Any]:
    """The same page as a plain dict, for routes that build JSON themselves."""
    return {"items": list(fetched[:limit]), "next_offset": next_offset(fetched, limit, offset)}

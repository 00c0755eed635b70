"""What every billing route shares: roles, list paging, and the shape of an invalid-field problem."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Path, Query
from voltline_chassis.paging import Limit, Offset, fetch_size, page
from voltline_chassis.problems import Problem
from voltline_chassis.security import require_role
from voltline_chassis.validation import IDENTIFIER_PATTERN

from voltline_billing.service_layer.context import Invalid

T = TypeVar("T")
OPERATOR = [Depends(require_role("operator"))]
VIEWER = [Depends(require_role("viewer"))]
# Driver ids come from the auth service; billing cannot know them all, but refuses what no id looks like
# (NUL, newlines, 10,000 characters) before it opens a ledger account for it.
DriverId = Annotated[str, Path(min_length=1, max_length=64, pattern=IDENTIFIER_PATTERN)]
DriverIdQuery = Annotated[str | None, Query(min_length=1, max_length=64, pattern=IDENTIFIER_PATTERN)]


def invalid(field: str, message: str) -> Problem:
    return Problem(422, message, title="Invalid request", extra={"errors": [{"field": field, "message": message}]})


async def call(coro: Awaitable[T], body_prefix: str = "body") -> T:
    """Run a use case. Kept for callers outside the routes: the app maps NotFound/Conflict/Invalid to
    404/409/422 problems itself (entrypoints/api/errors.py)."""
    try:
        return await coro
    except Invalid as exc:
        raise invalid(f"{body_prefix}.{exc.field}", str(exc)) from None


def items(values: list[Any]) -> dict[str, list[Any]]:
    """A list that is never paged (a driver's payment methods, a tariff's versions): no next_offset."""
    return {"items": values}


__all__ = ["Limit", "Offset", "fetch_size", "page"]

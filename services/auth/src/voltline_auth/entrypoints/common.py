"""What every router of the auth API shares: paging, id formats, and errors that name their field."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import Field
from voltline_chassis.paging import Limit, Offset, Page, fetch_size
from voltline_chassis.problems import Problem

__all__ = ["Limit", "Offset", "Page", "fetch_size"]

IDENTIFIER = r"^[a-zA-Z0-9*\-_=:+|@.]+$"  # OCPP identifierString
StationIdStr = Annotated[str, Field(min_length=1, max_length=48, pattern=IDENTIFIER)]
ListIdStr = Annotated[str, Field(min_length=1, max_length=48, pattern=IDENTIFIER)]
TokenTypeQuery = Annotated[
    str | None, Query(description="The token's type, needed only when several tokens share the id.")
]


def invalid(field: str, message: str, title: str = "Invalid request") -> Problem:
    return Problem(422, message, title=title, extra={"errors": [{"field": f"body.{field}", "message": message}]})


def not_found(what: str, ident: str, **extra: str) -> Problem:
    return Problem(404, f"No {what} {ident!r} exists.", extra=extra)


def conflict(message: str, **extra: Any) -> Problem:
    return Problem(409, message, extra=extra)

"""Typed access to what a DML statement reports."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy.engine import CursorResult, Result


def rowcount(result: Result[Any]) -> int:
    """Rows an INSERT/UPDATE/DELETE touched (0 when the driver cannot tell).

    `AsyncSession.execute` is typed as returning `Result`, which has no `rowcount`; a DML statement's result is
    a `CursorResult`, which does. One cast here instead of a `type: ignore` at every caller.
    """
    return cast(CursorResult[Any], result).rowcount or 0

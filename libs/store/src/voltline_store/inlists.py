"""IN lists padded to a few lengths on PostgreSQL, so that their statements are prepared once per connection.

SQLAlchemy renders `column.in_(values)` with one bound parameter per value, so the statement's text changes with
the list's length. asyncpg prepares every new text (a round trip, and a parse and plan in the server) and caches
it per connection by its text: a consumer batch that reads its stations' rows with `IN (...)` had a new length,
hence a prepare, nearly every batch (about a quarter of the session service's statements to the server in a
drain, bench/RESULTS.md session 9). Padding the list to the next power of two by repeating its last value gives
the same rows (IN and NOT IN ignore repeats) with at most one text per power of two.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import operators

_PADDED_OPS = (operators.in_op, operators.not_in_op)
_MAX_PADDED = 4096  # longer lists go as they are: their statements are rare, and doubling them costs binds


def padded_length(count: int) -> int:
    """The length a list of `count` values is padded to: the next power of two (up to `_MAX_PADDED`)."""
    if count <= 1 or count > _MAX_PADDED:
        return count
    return 1 << (count - 1).bit_length()


def pad_in_lists(dialect: Dialect) -> None:
    """Make `dialect`'s compiler pad the values of IN / NOT IN lists (see the module docstring)."""
    base: Any = dialect.statement_compiler
    if getattr(base, "pads_in_lists", False):
        return

    class PaddingCompiler(base):  # type: ignore[misc]  # the dialect's own compiler class (Any)
        pads_in_lists = True

        def _literal_execute_expanding_parameter(
            self, name: str, parameter: Any, values: Any, **kw: Any
        ) -> tuple[list[tuple[str, Any]], str]:
            if values and not parameter.literal_execute and parameter.expand_op in _PADDED_OPS:
                values = list(values)
                values.extend(values[-1:] * (padded_length(len(values)) - len(values)))
            return super()._literal_execute_expanding_parameter(name, parameter, values, **kw)  # type: ignore[no-any-return]

    PaddingCompiler.__name__ = f"Padding{base.__name__}"
    dialect.statement_compiler = PaddingCompiler

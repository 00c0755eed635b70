"""Column types shared by every service's schema."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is stored as UTC and always read back as an aware UTC datetime.

    PostgreSQL keeps the instant (`timestamptz`) but SQLite keeps no zone at all, so without this a
    service would read naive datetimes on one dialect and aware ones on the other. Naive datetimes
    are refused on write: guessing their zone is how off-by-hours bugs get into billing.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime expects a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"UTCDateTime refuses naive datetime {value!r}; pass an aware one")
        value = value.astimezone(UTC)
        # SQLite stores text; naive UTC keeps every stored value in one format, so text comparison
        # in SQL (`WHERE created_at < :t`) orders correctly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value
        if stored.tzinfo is None:
            return stored.replace(tzinfo=UTC)
        return stored.astimezone(UTC)

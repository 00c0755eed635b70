"""Event-time buckets: hours, days and months in UTC, and cutting an interval into hour slices."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Literal

Granularity = Literal["hour", "day", "month"]
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def utc(moment: datetime) -> datetime:
    """Station clocks should send a zone; a naive time is read as UTC rather than refused."""
    if moment.tzinfo is UTC:  # nearly always (parsed "+00:00", or already converted): no new object
        return moment
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def floor(moment: datetime, granularity: Granularity) -> datetime:
    moment = utc(moment)
    if granularity == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    if granularity == "day":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_bucket(start: datetime, granularity: Granularity) -> datetime:
    if granularity == "hour":
        return start + HOUR
    if granularity == "day":
        return start + DAY
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


def buckets(start: datetime, end: datetime, granularity: Granularity) -> Iterator[datetime]:
    """The starts of every bucket overlapping [start, end)."""
    cursor = floor(start, granularity)
    while cursor < end:
        yield cursor
        cursor = next_bucket(cursor, granularity)


def hour_slices(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime, datetime]]:
    """(hour, slice_start, slice_end) for every hour [start, end) touches."""
    start, end = utc(start), utc(end)
    for hour in buckets(start, end, "hour"):
        yield hour, max(start, hour), min(end, hour + HOUR)


def seconds(start: datetime, end: datetime) -> int:
    """Whole seconds between two instants (never negative), so sums stay exact and order-independent."""
    return max(0, int((end - start).total_seconds()))


def overlap_s(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> int:
    return seconds(max(a_start, b_start), min(a_end, b_end))

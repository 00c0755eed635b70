"""Bounded input types for operator APIs: every number has a range and a precision, checked at the edge.

A `Decimal` without bounds accepts ``"1e999999999"``; the first `quantize` or multiplication on it then
holds a service's event loop for seconds or minutes. These types refuse such values with 422 naming the
field, before any arithmetic. Ranges are generous for real charging (a station does not deliver a GWh)
and documented in docs/security.md.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, StringConstraints

MAX_MONEY = Decimal("1000000000")  # 1e9 in any currency, 6 decimal places
MAX_KWH = Decimal("1000000")  # 1 GWh
MAX_KW = Decimal("100000")  # 100 MW
MAX_AMPERE = Decimal("100000")
MAX_DURATION_S = 10 * 366 * 86_400  # ten years
MAX_OFFSET = 10_000_000  # deeper pages: narrow the filters

Money = Annotated[Decimal, Field(ge=0, le=MAX_MONEY, max_digits=16, decimal_places=6, allow_inf_nan=False)]
PositiveMoney = Annotated[Decimal, Field(gt=0, le=MAX_MONEY, max_digits=16, decimal_places=6, allow_inf_nan=False)]
EnergyKwh = Annotated[Decimal, Field(ge=0, le=MAX_KWH, max_digits=13, decimal_places=6, allow_inf_nan=False)]
PowerKw = Annotated[Decimal, Field(ge=0, le=MAX_KW, max_digits=12, decimal_places=6, allow_inf_nan=False)]
CurrentA = Annotated[Decimal, Field(ge=0, le=MAX_AMPERE, max_digits=12, decimal_places=6, allow_inf_nan=False)]
DurationS = Annotated[int, Field(ge=0, le=MAX_DURATION_S, strict=True)]
PageOffset = Annotated[int, Field(ge=0, le=MAX_OFFSET)]
# Identifiers that end up in paths, ledgers and logs: no control characters, no spaces, bounded.
IDENTIFIER_PATTERN = r"^[A-Za-z0-9._:@+\-]+$"
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=IDENTIFIER_PATTERN)]


def check_time_zone(value: str) -> str:
    """An IANA zone name such as ``Europe/Berlin``; ``America`` (a folder) or 300 characters are refused."""
    if not 1 <= len(value) <= 64:
        raise ValueError("a time zone name is 1-64 characters, e.g. Europe/Berlin")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown IANA time zone {value!r}, e.g. Europe/Berlin") from None
    return value


TimeZoneName = Annotated[str, AfterValidator(check_time_zone)]

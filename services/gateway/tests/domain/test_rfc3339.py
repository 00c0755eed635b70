"""The fast date-time check accepts exactly what rfc3339-validator (jsonschema's date-time checker) accepts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rfc3339_validator import validate_rfc3339
from voltline_gateway.domain.rfc3339 import is_date_time

EDGES = [
    "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2000-02-29T00:00:00Z",
    "2024-04-31T00:00:00Z", "2024-12-31T23:59:59.999999+14:00", "0000-01-01T00:00:00Z", "2024-01-00T00:00:00Z",
    "2024-13-01T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:60:00Z", "2024-01-01t00:00:00z",
    "2024-01-01T00:00:00", "2024-01-01 00:00:00Z", "2024-01-01T00:00:00Z\n", "2024-01-01T00:00:00.Z",
    "2024-01-01T00:00:00+0100", "٢٠٢٤-01-01T00:00:00Z", "",
]  # fmt: skip


@pytest.mark.parametrize("text", EDGES)
def test_edge_cases_agree(text: str) -> None:
    assert is_date_time(text) == validate_rfc3339(text)


digits = st.text("0123456789", min_size=1, max_size=4)


@settings(max_examples=3000, deadline=None)
@given(
    st.tuples(
        digits, st.sampled_from(["01", "02", "04", "12", "13", "00"]), digits, st.sampled_from(["Z", "+01:00", "", "z"])
    )
)
def test_generated_dates_agree(parts: tuple[str, str, str, str]) -> None:
    year, month, day, zone = parts
    text = f"{year}-{month}-{day}T12:30:00{zone}"
    assert is_date_time(text) == validate_rfc3339(text)


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="0123456789-:TZ+. tz", max_size=30))
def test_arbitrary_strings_agree(text: str) -> None:
    assert is_date_time(text) == validate_rfc3339(text)

"""Station ids, as OCPP's identifierString allows them."""

from __future__ import annotations

import re

_STATION_ID = re.compile(r"[a-zA-Z0-9*\-_=:+|@.]{1,48}")


def is_valid_station_id(station_id: str) -> bool:
    return _STATION_ID.fullmatch(station_id) is not None

"""The live rows of a station and of a connector, as the status repository reads and writes them."""

from __future__ import annotations

from typing import Any

from voltline_diagnostics.service_layer.ports import ConnectorRow, StationRow

__all__ = ["CONNECTOR_FIELDS", "STATION_FIELDS", "ConnectorRow", "StationRow", "connector_row", "station_row"]


STATION_FIELDS = tuple(StationRow.__dataclass_fields__)
CONNECTOR_FIELDS = tuple(ConnectorRow.__dataclass_fields__)


def station_row(row: Any) -> StationRow:
    mapping = row._mapping  # a new view per access: taken once, not once per field
    return StationRow(**{k: mapping[k] for k in STATION_FIELDS})


def connector_row(row: Any) -> ConnectorRow:
    mapping = row._mapping
    return ConnectorRow(**{k: mapping[k] for k in CONNECTOR_FIELDS})

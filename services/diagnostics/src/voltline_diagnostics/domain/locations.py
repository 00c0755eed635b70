"""Charging locations (OCPI 2.2.1 Locations shape): distance, the search box, EVSE status and the filters.

Pure rules. A location names its stations; per station the operator may describe EVSEs and their connectors
(standard, format, power type, max power). Where the operator described none, the EVSEs and connectors
diagnostics knows from the station's own StatusNotifications are shown (standard and power unknown). The
status is diagnostics' normalised one (docs/diagnostics.md, "Live status"), `Unknown` while the station is
offline; OCPI's EVSE status is derived from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)
KM_PER_DEGREE_LAT = math.pi * EARTH_RADIUS_KM / 180
OCPI_STATUS = {
    "Available": "AVAILABLE",
    "Occupied": "CHARGING",
    "Reserved": "RESERVED",
    "Unavailable": "INOPERATIVE",
    "Faulted": "OUTOFORDER",
    "Unknown": "UNKNOWN",
}
# 2.x device model `Connector.ConnectorType` -> OCPI (standard, format, power type); the c.. types are cables.
CONNECTOR_TYPES: dict[str, tuple[str, str, str | None]] = {
    "cCCS1": ("IEC_62196_T1_COMBO", "CABLE", "DC"),
    "cCCS2": ("IEC_62196_T2_COMBO", "CABLE", "DC"),
    "cChaoJi": ("CHAOJI", "CABLE", "DC"),
    "cG105": ("CHADEMO", "CABLE", "DC"),
    "cGBT": ("GBT_DC", "CABLE", "DC"),
    "cTesla": ("TESLA_S", "CABLE", None),
    "cType1": ("IEC_62196_T1", "CABLE", "AC_1_PHASE"),
    "cType2": ("IEC_62196_T2", "CABLE", None),
    "s309-1P-16A": ("IEC_60309_2_single_16", "SOCKET", "AC_1_PHASE"),
    "s309-3P-16A": ("IEC_60309_2_three_16", "SOCKET", "AC_3_PHASE"),
    "s309-3P-32A": ("IEC_60309_2_three_32", "SOCKET", "AC_3_PHASE"),
    "sCEE-7-7": ("DOMESTIC_F", "SOCKET", "AC_1_PHASE"),
    "sType2": ("IEC_62196_T2", "SOCKET", None),
    "sType3": ("IEC_62196_T3C", "SOCKET", None),
}
# An EVSE with several connectors is as usable as its best connector (one car charges at a time).
_PREFERENCE = ("Available", "Occupied", "Reserved", "Unavailable", "Faulted", "Unknown")


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance on a sphere of the Earth's mean radius (error < 0.5 %: fine to find a charger)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class Box:
    """A latitude/longitude rectangle containing every point within a radius; `lon_ranges` are one or two
    ranges (two when the box crosses the antimeridian). SQL prefilters with it; haversine decides."""

    min_lat: float
    max_lat: float
    lon_ranges: tuple[tuple[float, float], ...]


def bounding_box(lat: float, lon: float, radius_km: float) -> Box:
    d_lat = radius_km / KM_PER_DEGREE_LAT
    min_lat, max_lat = max(-90.0, lat - d_lat), min(90.0, lat + d_lat)
    if min_lat <= -90.0 or max_lat >= 90.0:
        return Box(min_lat, max_lat, ((-180.0, 180.0),))  # a pole is inside: every longitude
    # the widest longitude span is at the latitude of the box nearest the pole
    cos_lat = math.cos(math.radians(max(abs(min_lat), abs(max_lat))))
    d_lon = radius_km / (KM_PER_DEGREE_LAT * cos_lat) if cos_lat > 1e-12 else 360.0
    if d_lon >= 180.0:
        return Box(min_lat, max_lat, ((-180.0, 180.0),))
    west, east = lon - d_lon, lon + d_lon
    if west < -180.0:
        return Box(min_lat, max_lat, ((west + 360.0, 180.0), (-180.0, east)))
    if east > 180.0:
        return Box(min_lat, max_lat, ((west, 180.0), (-180.0, east - 360.0)))
    return Box(min_lat, max_lat, ((west, east),))


@dataclass(frozen=True)
class LiveConnector:
    """A connector as diagnostics knows it from the station (status API vocabulary), with what its 2.x device
    model says: `connector_type` (Connector.ConnectorType) and `max_power_w` (EVSE.Power, MaxSet)."""

    evse_id: int
    connector_id: int
    status: str
    connector_type: str | None = None
    max_power_w: float | None = None


@dataclass(frozen=True)
class Filter:
    connector_type: str | None = None
    min_power_kw: Decimal | None = None
    available: bool = False


@dataclass
class EvseView:
    evse_id: int
    status: str
    connectors: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self, station_id: str) -> dict[str, Any]:
        return {
            "uid": f"{station_id}*{self.evse_id}",
            "evse_id": self.evse_id,
            "status": self.status,
            "ocpi_status": OCPI_STATUS.get(self.status, "UNKNOWN"),
            "connectors": self.connectors,
        }


def evse_status(statuses: list[str]) -> str:
    for wanted in _PREFERENCE:
        if wanted in statuses:
            return wanted
    return "Unknown"


def evses(configured: list[dict[str, Any]], live: list[LiveConnector], online: bool) -> list[EvseView]:
    """The station's EVSEs with their live status: the operator's description, else what the station reported."""
    by_evse: dict[int, list[LiveConnector]] = {}
    for c in live:
        if c.evse_id > 0 and c.connector_id > 0:  # connector 0 is the 1.6 station as a whole
            by_evse.setdefault(c.evse_id, []).append(c)
    if configured:
        described = [(int(e["evse_id"]), list(e.get("connectors") or [])) for e in configured]
    else:
        described = [
            (evse_id, [_reported_connector(c) for c in sorted(found, key=lambda c: c.connector_id)])
            for evse_id, found in sorted(by_evse.items())
        ]
    out = []
    for evse_id, connectors in described:
        known = by_evse.get(evse_id, [])
        status = evse_status([c.status for c in known]) if online and known else "Unknown"
        out.append(EvseView(evse_id, status, connectors))
    return out


def _reported_connector(c: LiveConnector) -> dict[str, Any]:
    """What the station's own reports say of a connector the operator did not describe (else null)."""
    standard, fmt, power_type = CONNECTOR_TYPES.get(c.connector_type or "", (None, None, None))
    power = None if c.max_power_w is None else f"{(Decimal(str(c.max_power_w)) / 1000).normalize():f}"
    return {"connector_id": c.connector_id, "standard": standard, "format": fmt, "power_type": power_type,
            "max_power_kw": power}  # fmt: skip


def evse_matches(evse: EvseView, wanted: Filter) -> bool:
    if wanted.available and evse.status != "Available":
        return False
    if wanted.connector_type is None and wanted.min_power_kw is None:
        return True
    return any(_connector_matches(c, wanted) for c in evse.connectors)


def _connector_matches(connector: dict[str, Any], wanted: Filter) -> bool:
    if wanted.connector_type is not None and connector.get("standard") != wanted.connector_type:
        return False
    if wanted.min_power_kw is not None:
        power = connector.get("max_power_kw")
        return power is not None and Decimal(str(power)) >= wanted.min_power_kw
    return True

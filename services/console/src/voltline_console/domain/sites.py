"""Sites (diagnostics' OCPI-shaped locations) for the map and the Locations form (no I/O here).

The map joins two of diagnostics' answers in the console: locations give where (coordinates, stations),
the fleet list gives how each station is (health, model, firmware); nothing in diagnostics gets slower.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from voltline_console.domain.charts import coordinates

SITE_FIELDS = ("location_id", "name", "address", "city", "postal_code", "country", "latitude", "longitude",
               "time_zone", "stations")  # fmt: skip
# diagnostics' 422 names fields of its body; the form's field that shows each one
ERROR_FIELDS = {"coordinates.latitude": "latitude", "coordinates.longitude": "longitude", "coordinates": "latitude"}
WORST = ("faulted", "offline", "unresponsive", "online")


def station_ids(text: str) -> list[str]:
    """`CP-1, CP-2 CP-3` -> the ids in order, once each."""
    seen: dict[str, None] = {}
    for part in text.replace(",", " ").split():
        seen.setdefault(part, None)
    return list(seen)


def _state(station: Mapping[str, Any] | None) -> str:
    """A marker's colour: a Faulted connector first, then the station's health; unknown to the fleet: offline."""
    if station is None:
        return "offline"
    if any(c.get("status") == "Faulted" for c in station.get("connectors") or ()):
        return "faulted"
    return str(station.get("health") or ("online" if station.get("online") else "offline"))


def site_markers(
    locations: Iterable[Mapping[str, Any]], fleet: Mapping[str, Mapping[str, Any]], shown: set[str] | None = None
) -> list[dict[str, Any]]:
    """One marker per location that has coordinates and a station among `shown` (None: every station; a site
    without stations shows when nothing is filtered); its state is its worst station's."""
    found = []
    for loc in locations:
        position = coordinates(loc)
        if position is None:
            continue
        lat, lon = position
        ids = [str(s.get("station_id")) for s in loc.get("stations") or ()]
        visible = ids if shown is None else [i for i in ids if i in shown]
        if shown is not None and not visible:
            continue
        stations = [{"id": i, "state": _state(fleet.get(i))} for i in visible]
        states = [s["state"] for s in stations]
        worst = next((w for w in WORST if w in states), states[0] if states else "empty")
        found.append({"id": loc.get("location_id"), "name": loc.get("name") or loc.get("location_id"),
                      "lat": lat, "lon": lon, "state": worst, "stations": stations})  # fmt: skip
    return found


def form_values(location: Mapping[str, Any]) -> dict[str, str]:
    """The form's fields of a location as diagnostics shows it."""
    coords = location.get("coordinates") or {}
    values = {k: str(location.get(k) or "") for k in SITE_FIELDS}
    values["latitude"], values["longitude"] = str(coords.get("latitude") or ""), str(coords.get("longitude") or "")
    values["stations"] = " ".join(str(s.get("station_id")) for s in location.get("stations") or ())
    return values


def _described(station: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The EVSEs of a station as diagnostics' body takes them, when every connector is fully described."""
    out = []
    for evse in station.get("evses") or ():
        connectors = []
        for c in evse.get("connectors") or ():
            wanted = ("standard", "format", "power_type", "max_power_kw")
            if any(c.get(k) is None for k in wanted):
                return None
            connectors.append({"connector_id": c["connector_id"], **{k: c[k] for k in wanted}})
        if not connectors:
            return None
        out.append({"evse_id": evse["evse_id"], "connectors": connectors})
    return out or None


def location_body(values: Mapping[str, str], before: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """diagnostics' location body from the form; an edit keeps what the form does not show (opening times,
    facilities, parking) and the described EVSEs of the stations it keeps. diagnostics checks every value."""
    old = dict(before or {})
    kept = {str(s.get("station_id")): _described(s) for s in old.get("stations") or ()}
    stations: list[Any] = []
    for sid in station_ids(values.get("stations", "")):
        evses = kept.get(sid)
        stations.append({"station_id": sid, "evses": evses} if evses else sid)
    body: dict[str, Any] = {k: old[k] for k in ("state", "parking_type", "opening_times", "facilities") if k in old}
    body.update({k: values.get(k, "").strip() for k in ("location_id", "name", "address", "city", "country",
                                                       "time_zone")})  # fmt: skip
    body["postal_code"] = values.get("postal_code", "").strip() or None
    body["coordinates"] = {
        "latitude": values.get("latitude", "").strip(),
        "longitude": values.get("longitude", "").strip(),
    }
    body["stations"] = stations
    return body


def form_errors(errors: Mapping[str, str]) -> dict[str, str]:
    """diagnostics' errors by the form's field (`coordinates.latitude` -> `latitude`; `stations.0...` -> stations)."""
    out: dict[str, str] = {}
    for name, message in errors.items():
        field = ERROR_FIELDS.get(name) or ("stations" if name.startswith("stations") else name)
        out.setdefault(field, message)
    return out

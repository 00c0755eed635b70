"""Billing's tariffs as diagnostics follows them (the compacted `voltline.billing.tariffs.v1`): which price
applies to a station now. The same resolution as billing's: the station's own tariff, else its group's, else
the default; of that tariff, the newest version already valid."""

from __future__ import annotations

from datetime import datetime

from voltline_events.payloads import TariffAssigned, TariffChanged


class TariffTable:
    def __init__(self) -> None:
        self._versions: dict[str, dict[int, TariffChanged]] = {}
        self._assigned: dict[tuple[str, str], TariffAssigned] = {}

    def apply(self, event: TariffChanged | TariffAssigned) -> None:
        if isinstance(event, TariffChanged):
            self._versions.setdefault(event.tariff_id, {})[event.version] = event
        else:
            self._assigned[(event.scope, event.scope_id)] = event

    def __len__(self) -> int:
        return sum(len(v) for v in self._versions.values())

    def for_station(self, station_id: str, at: datetime) -> TariffChanged | None:
        for assignment in self._assignments_of(station_id):
            version = self.valid_at(assignment.tariff_id, at)
            if version is not None:
                return version
        return None

    def _assignments_of(self, station_id: str) -> list[TariffAssigned]:
        found = []
        own = self._assigned.get(("station", station_id))
        if own is not None:
            found.append(own)
        groups = [a for (scope, _), a in self._assigned.items() if scope == "group" and station_id in a.station_ids]
        if groups:
            found.append(max(groups, key=lambda a: a.assigned_at))  # a station moved between groups: the newest
        default = self._assigned.get(("default", ""))
        if default is not None:
            found.append(default)
        return found

    def valid_at(self, tariff_id: str, at: datetime) -> TariffChanged | None:
        versions = self._versions.get(tariff_id, {})
        valid = [v for n, v in sorted(versions.items()) if v.valid_from is None or v.valid_from <= at]
        return valid[-1] if valid else None

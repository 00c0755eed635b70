"""Local authorisation lists: versioned sets of tokens a station may check while offline.

A list belongs to one station or is shared by a group of stations (every station assigned to it).
Each change bumps the list's version and records which tokens changed at that version, so a station
that holds version v gets a Differential update with just the tokens changed after v; a station whose
version we don't know (or that holds another list) gets a Full update.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from voltline_auth.domain.tokens import TokenView

UpdateType = Literal["Full", "Differential"]
LIST_ID = re.compile(r"^[a-zA-Z0-9*\-_=:+|@.]{1,48}$")
OCPP16_ID_TAG_MAX = 20


@dataclass(frozen=True)
class LocalList:
    list_id: str
    description: str | None
    version: int
    created_at: datetime
    updated_at: datetime


# What voltline records as the station's list when the station reported a version voltline did not install.
FOREIGN_LIST = "?"


@dataclass(frozen=True)
class OnStation:
    """Which list, at which version, the station last confirmed holding (None: unknown or nothing).

    `known` is False when the station reported a version voltline did not install: it holds a list from
    elsewhere (another CSMS, a factory image, a lost update), which must be replaced.
    """

    list_id: str | None
    version: int | None
    known: bool = True


@dataclass(frozen=True)
class Plan:
    update_type: UpdateType | None  # None: the station is up to date
    version: int
    since: int | None = None  # Differential: changes after this version


def plan_update(target: LocalList | None, held: OnStation) -> Plan:
    """What to send so the station holds exactly `target` (None: no list, sent as an empty Full list when the
    station holds any list voltline did not install or no longer wants there)."""
    if target is None:
        if held.list_id is None and (held.known or not held.version):
            return Plan(None, held.version or 0)  # nothing there, or the empty list voltline installed
        # Clearing: a Full empty list one version above what the station holds, so it is never "older".
        return Plan("Full", (held.version or 0) + 1)
    if held.list_id == target.list_id and held.version == target.version:
        return Plan(None, target.version)
    if held.list_id == target.list_id and held.version is not None and 0 < held.version < target.version:
        return Plan("Differential", target.version, since=held.version)
    return Plan("Full", target.version)


@dataclass(frozen=True)
class Entry:
    """One token of an update; `view` None means "remove it" (only in Differential updates)."""

    id_token: str
    type: str
    view: TokenView | None


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _status(view: TokenView, now: datetime) -> str:
    token = view.token
    if token.status == "Accepted" and token.expires_at is not None and token.expires_at <= now:
        return "Expired"
    return token.status


def _entry_16(entry: Entry, now: datetime) -> dict[str, Any] | None:
    if not entry.id_token or len(entry.id_token) > OCPP16_ID_TAG_MAX:
        return None  # 1.6 idTags are CiString20: such a token cannot be in a 1.6 list
    out: dict[str, Any] = {"idTag": entry.id_token}
    if entry.view is not None:
        token = entry.view.token
        info: dict[str, Any] = {"status": _status(entry.view, now)}
        if token.expires_at is not None:
            info["expiryDate"] = _rfc3339(token.expires_at)
        if token.group_id and len(token.group_id) <= OCPP16_ID_TAG_MAX:
            info["parentIdTag"] = token.group_id
        out["idTagInfo"] = info
    return out


def _entry_2x(entry: Entry, now: datetime) -> dict[str, Any]:
    out: dict[str, Any] = {"idToken": {"idToken": entry.id_token, "type": entry.type}}
    if entry.view is not None:
        token = entry.view.token
        info: dict[str, Any] = {"status": _status(entry.view, now)}
        if token.expires_at is not None:
            info["cacheExpiryDateTime"] = _rfc3339(token.expires_at)
        if token.group_id:
            info["groupIdToken"] = {"idToken": token.group_id, "type": "Central"}
        if entry.view.language:
            info["language1"] = entry.view.language
        out["idTokenInfo"] = info
    return out


def send_local_list(
    ocpp_version: str, version: int, update_type: UpdateType, entries: list[Entry], now: datetime
) -> dict[str, Any]:
    """The SendLocalList request payload for the station's protocol version."""
    if ocpp_version == "ocpp1.6":
        items = [e for e in (_entry_16(entry, now) for entry in entries) if e is not None]
        payload: dict[str, Any] = {"listVersion": version, "updateType": update_type}
    else:
        items = [_entry_2x(entry, now) for entry in entries]
        payload = {"versionNumber": version, "updateType": update_type}
    if items:
        payload["localAuthorizationList"] = items
    return payload


def reported_version(ocpp_version: str, answer: dict[str, Any]) -> int | None:
    """GetLocalListVersion's answer; 1.6 says -1 when the station has no local list support."""
    value = answer.get("listVersion" if ocpp_version == "ocpp1.6" else "versionNumber")
    return value if isinstance(value, int) else None

"""Who executes a command for a station when several gateways run: a pure decision over the presence view.

Every gateway reads every command. The instance holding the socket executes it. Exactly one other answers
`offline` when nobody holds it: the instance the station's presence record names (it knows it does not
hold the station), or, when that instance is gone or there is no record, the live instance that wins a
rendezvous hash of the station id, so the choice is the same on every gateway that has the same view.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from enum import StrEnum


class Role(StrEnum):
    EXECUTE = "execute"
    ANSWER_OFFLINE = "answer_offline"
    IGNORE = "ignore"


def rendezvous(station_id: str, instances: Iterable[str]) -> str | None:
    """The instance with the highest hash of (instance, station): stable, and spread over instances."""

    def weight(instance: str) -> bytes:
        return hashlib.blake2b(f"{instance}\x1f{station_id}".encode(), digest_size=8).digest()

    return max(instances, key=weight, default=None)


def role(
    station_id: str,
    *,
    me: str,
    holds: bool,
    named: str | None,
    live: Iterable[str],
) -> Role:
    """`named`: the instance of the station's newest presence record (connected or not), if any."""
    if holds:
        return Role.EXECUTE
    alive = set(live) | {me}
    if named == me:
        return Role.ANSWER_OFFLINE
    if named is not None and named in alive:
        return Role.IGNORE  # the named holder executes it, or answers offline if the station left it
    return Role.ANSWER_OFFLINE if rendezvous(station_id, alive) == me else Role.IGNORE

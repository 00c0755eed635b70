"""Firmware campaigns as rules: batches (a canary, then fixed-size batches), each station's progress from its
notifications and next boot, timeouts, and the automatic halt when too many stations fail.

A campaign is `running`, `paused`, `halted` (automatically), `cancelled` or `completed`. A station target
goes `pending` → (`deferred` while it charges or is offline) → `sent` → `downloading` → `installing` →
`awaiting_boot` → `succeeded`, or `failed` from any step (with a reason), or `cancelled` if never sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

ACTIVE_TARGET = frozenset({"sent", "downloading", "installing", "awaiting_boot"})
WAITING_TARGET = frozenset({"pending", "deferred"})
FINAL_TARGET = frozenset({"succeeded", "failed", "cancelled"})
OPEN_CAMPAIGN = frozenset({"running", "paused", "halted"})

# FirmwareStatusNotification statuses (1.6 and 2.x) and what they mean for the target.
_PROGRESS = {
    "Downloading": "downloading",
    "DownloadScheduled": "downloading",
    "DownloadPaused": "downloading",
    "Downloaded": "installing",
    "SignatureVerified": "installing",
    "InstallScheduled": "installing",
    "Installing": "installing",
    "InstallRebooting": "awaiting_boot",
    "Installed": "awaiting_boot",
}
_FAILED = frozenset({"DownloadFailed", "InstallationFailed", "InstallVerificationFailed", "InvalidSignature"})


@dataclass(frozen=True)
class Plan:
    canary_size: int
    batch_size: int
    failure_threshold: Decimal  # a fraction: 0.2 halts when more than 20% of finished stations failed
    min_finished: int  # the rate is judged once this many stations finished (the canary at least)
    station_timeout: timedelta


@dataclass(frozen=True)
class Target:
    station_id: str
    state: str
    batch: int | None
    started_at: datetime | None


def batch_size(plan: Plan, batch: int) -> int:
    """Batch 0 is the canary."""
    return plan.canary_size if batch == 0 else plan.batch_size


def failure_rate(targets: list[Target]) -> tuple[int, int, Decimal]:
    finished = [t for t in targets if t.state in ("succeeded", "failed")]
    failed = sum(1 for t in finished if t.state == "failed")
    rate = Decimal(failed) / Decimal(len(finished)) if finished else Decimal(0)
    return failed, len(finished), rate


def should_halt(plan: Plan, targets: list[Target]) -> bool:
    _failed, finished, rate = failure_rate(targets)
    return finished >= plan.min_finished and rate > plan.failure_threshold


def next_batch(plan: Plan, targets: list[Target]) -> tuple[int, list[str]] | None:
    """The next batch number and its stations, once every started station finished; None while one is busy."""
    started = [t for t in targets if t.batch is not None]
    if any(t.state in ACTIVE_TARGET or t.state in WAITING_TARGET for t in started):
        return None
    waiting = sorted(t.station_id for t in targets if t.batch is None and t.state in WAITING_TARGET)
    if not waiting:
        return None
    number = max((t.batch for t in started if t.batch is not None), default=-1) + 1
    return number, waiting[: batch_size(plan, number)]


def timed_out(plan: Plan, target: Target, now: datetime) -> bool:
    return (
        target.started_at is not None
        and target.state not in FINAL_TARGET
        and now - target.started_at > plan.station_timeout
    )


def after_notification(state: str, status: str) -> tuple[str, str | None]:
    """A target's state after a FirmwareStatusNotification: (state, failure reason)."""
    if state in FINAL_TARGET:
        return state, None
    if status in _FAILED:
        return "failed", status
    new = _PROGRESS.get(status)
    if new is None:  # Idle and unknown values say nothing new
        return state, None
    return new, None


def after_boot(state: str, booted_version: str | None, wanted_version: str) -> tuple[str, str | None]:
    """A boot after the update was sent: the new version means success; an old one after Installed, failure."""
    if state not in ACTIVE_TARGET:
        return state, None
    if booted_version == wanted_version:
        return "succeeded", None
    if state == "awaiting_boot":
        return "failed", f"booted with firmware {booted_version!r}, not {wanted_version!r}"
    return state, None


def busy(connector_states: dict[str, Any]) -> bool:
    """Is a vehicle charging (or plugged in) on any connector?"""
    return any(s in {"Charging", "SuspendedEV", "SuspendedEVSE", "Occupied"} for s in connector_states.values())

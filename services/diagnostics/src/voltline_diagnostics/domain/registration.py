"""What a station was answered at its boots, kept by the gateway's time (pure; ADR 0038, amended in session 11).

After a broker restart a station's newest boot and answer can be read before the spool replays the older ones
(ADR 0045), an answer even before its own boot, and copies of both come again. Applied as read, an older
answer named the newer boot's status, and a boot read after its own answer erased it. The rule, in any
delivery order: the status is the newest answer's when it is at or after the newest boot (else the newest
boot's answer is not known yet: None); the heartbeat interval is the newest Accepted answer's (a Pending or
Rejected interval is a retry delay). An answer is never older than its boot: the gateway publishes it after.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from voltline_diagnostics.domain.status import newest


@dataclass(frozen=True)
class Registration:
    last_boot_at: datetime | None = None
    status: str | None = None  # Accepted, Pending, Rejected
    answered_at: datetime | None = None  # the answer that set `status`
    heartbeat_interval_s: int | None = None
    interval_at: datetime | None = None  # the Accepted answer that set `heartbeat_interval_s`

    def booted(self, at: datetime) -> Registration:
        """A boot: when it is the newest, its answer is not known unless one at or after it was read first."""
        if not newest(at, self.last_boot_at):
            return self
        answered = self.answered_at is not None and self.answered_at >= at
        return replace(self, last_boot_at=at, status=self.status if answered else None)

    def answered(self, at: datetime, status: str, interval: int) -> Registration:
        """An answer: its status when it is the newest answer and not older than the newest boot (an older
        boot's answer); its interval when Accepted and the newest Accepted answer."""
        out = self
        if newest(at, self.answered_at) and newest(at, self.last_boot_at):
            out = replace(out, status=status, answered_at=at)
        if status == "Accepted" and interval > 0 and newest(at, self.interval_at):
            out = replace(out, heartbeat_interval_s=interval, interval_at=at)
        return out

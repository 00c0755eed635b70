"""What the diagnostics use cases need besides a transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from voltline_events import Topics
from voltline_store import Reader

from voltline_diagnostics.domain.alerts import DEFAULT_RULES, Rule
from voltline_diagnostics.domain.heard import HeardMemory
from voltline_diagnostics.domain.silence import SilenceWatch
from voltline_diagnostics.domain.status import Silence
from voltline_diagnostics.domain.webhooks import Backoff
from voltline_diagnostics.service_layer.unit_of_work import DiagnosticsUnitOfWork

# The inbox consumer name: one per service, whatever the instance.
CONSUMER = "diagnostics"


@dataclass
class HealthContext:
    uow: Callable[[], DiagnosticsUnitOfWork]
    topics: Topics
    source: str
    clock: Callable[[], datetime]
    rules: dict[str, Rule] = field(default_factory=lambda: dict(DEFAULT_RULES))
    silence: Silence = field(default_factory=Silence)
    # The stations this process heard from and when each goes silent (the monitor checks only those due).
    silence_watch: SilenceWatch = field(default_factory=SilenceWatch)
    default_heartbeat_s: int = 300
    backoff: Backoff = field(default_factory=Backoff)
    wake_deliveries: Callable[[], None] = lambda: None
    # Read-only statements outside any unit of work (the API's views): on SQLite they never wait for a writer.
    reader: Reader | None = None
    # The store's dialect: the fleet list is built by PostgreSQL itself there (adapters/fleet_json.py).
    dialect: str = "sqlite"
    # Stations whose quiet events (heartbeats, meter values...) are answered from memory (service_layer/heard.py);
    # None: every event goes through a batch transaction.
    heard: HeardMemory | None = None
    # Whether the current consumer batch holds the station's rows (then its events stay in the batch).
    in_batch: Callable[[str], bool] = lambda _station_id: False
    # A connector status handed to maintenance inside the current batch (what `heard` learns maintenance holds).
    note_forwarded: Callable[[str, str, str], None] = lambda _station_id, _connector, _status: None

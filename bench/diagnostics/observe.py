"""What a steady phase cost, seen from outside the service: py-spy's samples of the process and the server's
statements (`pg_stat_statements` of a private PostgreSQL started for the run).

`python -m bench.diagnostics --pyspy FILE` records the service with py-spy (on-CPU samples, 250 Hz) during the
last steady phase and prints its samples grouped by stage (`STAGES`: the first stage a frame of the stack
matches) as microseconds per event; `--pg-stats` runs the bench against a private PostgreSQL with
`pg_stat_statements` and prints, per steady phase, each statement's calls, rows and time (per call and per
event).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

# (stage, substrings of a frame): a stack is charged to the first stage (in this order) that one of its frames
# matches, so the narrow stages come first (the relay's sends before the relay, the writes before the batch).
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("relay: publish (aiokafka produce, requests)", ("publish_many_stored", "aiokafka/producer", "Sender.")),
    ("relay: rounds (read, mark, commit)", ("voltline_store/relay.py",)),
    (
        "maintenance: connector statuses",
        ("connectors_many", "connector_status (", "connector (voltline_diagnostics/maintenance.py"),
    ),
    ("batch SQL: reads", ("read (voltline_diagnostics/adapters/status_batch_pg", "StatusBatchState.load")),
    ("batch SQL: writes", ("write (voltline_diagnostics/adapters/status_batch_pg", "StatusBatchState.flush")),
    ("batch SQL: inbox markers", ("_insert_markers", "_forget_unclaimed")),
    (
        "outbox rows built (event, envelope, bytes)",
        ("BatchOutbox.add", "publish (voltline_diagnostics", "envelope_for"),
    ),
    ("handlers (rules, unit of work, repositories)", ("voltline_diagnostics/service_layer", "status_repo.py")),
    ("batch: transaction, commit, pool", ("voltline_store/batch.py", "sqlalchemy/", "asyncpg/")),
    ("consumer: decode, dispatch (envelope, payload)", ("voltline_events/", "voltline_bus/dispatch", "pydantic/")),
    ("consumer: fetch, records, offsets", ("voltline_bus/", "aiokafka/")),
    ("monitor, webhooks, periodic", ("monitor", "webhook", "silence", "_every")),
]


class PySpy:
    """py-spy recording the process until `stop()` (raw collapsed stacks to `path`)."""

    def __init__(self, pid: int, path: str, rate: int = 250) -> None:
        exe = shutil.which("py-spy")
        if exe is None:
            raise SystemExit("--pyspy needs py-spy on PATH (pip install py-spy)")
        self.path = path
        self._proc = subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw", "--output", path],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
            try:
                self._proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


def stage_of(stack: str) -> str:
    for stage, patterns in STAGES:
        if any(p in stack for p in patterns):
            return stage
    return "event loop, other"


def summarise(path: str, cpu_us_per_event: float) -> dict[str, Any]:
    """Samples per stage, as shares and as µs of the process's CPU per event."""
    counts: Counter[str] = Counter()
    if not Path(path).exists():
        return {}
    for line in Path(path).read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            counts[stage_of(stack)] += int(n)
    total = sum(counts.values()) or 1
    return {
        stage: {"share": round(n / total, 3), "us_per_event": round(cpu_us_per_event * n / total, 1)}
        for stage, n in counts.most_common()
    }


class StatementStats:
    """`pg_stat_statements` of the bench's database on a private server: reset, then read per phase."""

    def __init__(self, admin_dsn: str, database: str) -> None:
        self.dsn, self.database = admin_dsn, database

    async def _conn(self) -> Any:
        import asyncpg

        return await asyncpg.connect(self.dsn)

    async def reset(self) -> None:
        conn = await self._conn()
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            await conn.execute("SELECT pg_stat_statements_reset()")
        finally:
            await conn.close()

    async def read(self, events: int, top: int = 20) -> list[dict[str, Any]]:
        conn = await self._conn()
        try:
            rows = await conn.fetch(
                "SELECT query, calls, rows, total_exec_time, total_plan_time FROM pg_stat_statements"
                " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1)"
                " ORDER BY total_exec_time + total_plan_time DESC LIMIT $2",
                self.database,
                top,
            )
        finally:
            await conn.close()
        return [
            {
                "ms_total": round(r["total_exec_time"] + r["total_plan_time"], 1),
                "us_per_event": round(1000 * (r["total_exec_time"] + r["total_plan_time"]) / max(1, events), 1),
                "calls": r["calls"],
                "rows": r["rows"],
                "ms_per_call": round((r["total_exec_time"] + r["total_plan_time"]) / max(1, r["calls"]), 3),
                "query": " ".join(r["query"].split())[:140],
            }
            for r in rows
        ]


def private_postgres() -> Any:
    """A private PostgreSQL with `pg_stat_statements` loaded (plan time tracked too)."""
    from voltline_devinfra.postgres import PostgresServer

    settings = {"shared_preload_libraries": "pg_stat_statements", "pg_stat_statements.track_planning": "on"}
    return PostgresServer(settings=settings).start()

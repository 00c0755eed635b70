"""libs/store's outbox path alone: write N events per batch in one transaction, then relay them.

`uv run python -m bench.pipeline.outbox [--events 20000] [--batch 200] [--databases sqlite,postgresql]
[--modes orm,bulk]`: for each database and mode, commits `--events` envelopes of the gateway's mix
(bench.pipeline.ingest.station_mix) in transactions of `--batch` outbox rows, then drains them with the real
`OutboxRelay` into a publisher that acknowledges at once (no Kafka: only the store's cost is measured).
`orm` writes each row as the ORM object the outbox added before round 2 of issue 12 (`OutboxMessage`, one INSERT
per row at the flush); `bulk` is today's `Outbox.add` (rows queued, one executemany per transaction). Prints
events/s and events per CPU-second of this process, the PostgreSQL backends' CPU apart, for the write and the
relay, and the load average. Needs `--pg` (or VOLTLINE_TEST_POSTGRES_DSN) for PostgreSQL; not part of `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import tempfile
import time
from typing import Any

import sqlalchemy as sa
from voltline_devinfra.postgres import ExternalPostgres
from voltline_events import Envelope, station_key
from voltline_store import OutboxRelay, UnitOfWork, create_engine, define_outbox_tables, session_factory
from voltline_store.outbox import OutboxMessage, _utcnow

from bench.pipeline.ingest import _db_backend_cpu, station_mix


class AckAll:
    """A bus that acknowledges every batch at once, taking the stored bytes as they are."""

    def __init__(self) -> None:
        self.count = 0

    async def publish(self, topic: str, envelope: Envelope, *, key: bytes | None = None) -> None:
        self.count += 1

    async def publish_many_stored(self, items: list[tuple[str, bytes, bytes | None]]) -> None:
        self.count += len(items)


def _orm_add(uow: UnitOfWork, topic: str, envelope: Envelope, key: bytes | None) -> None:
    """What `Outbox.add` did before: one mapped object per row."""
    uow.session.add(
        OutboxMessage(topic=topic, key=key, value=envelope.to_bytes(), event_id=envelope.event_id, created_at=_utcnow())
    )
    uow.outbox.added += 1


async def run(url: str, mode: str, events: int, batch: int) -> dict[str, Any]:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(define_outbox_tables(sa.MetaData()).outbox.metadata.create_all)
    factory = session_factory(engine)
    envelopes = [(station_key(sid), env) for sid, env in station_mix(max(50, events // 100), events)]
    out: dict[str, Any] = {"mode": mode}
    cpu0, wall0, db0 = time.process_time(), time.perf_counter(), _db_backend_cpu(url)
    for start in range(0, len(envelopes), batch):
        async with UnitOfWork(factory) as uow:
            for key, env in envelopes[start : start + batch]:
                if mode == "orm":
                    _orm_add(uow, "bench.outbox", env, key)
                else:
                    uow.outbox.add("bench.outbox", env, key)
            await uow.commit()
    out["write"] = _figures(len(envelopes), cpu0, wall0, db0, url)
    bus = AckAll()
    relay = OutboxRelay(engine, bus, batch_size=500, name="bench")
    cpu0, wall0, db0 = time.process_time(), time.perf_counter(), _db_backend_cpu(url)
    while await relay.run_once():
        pass
    out["relay"] = _figures(bus.count, cpu0, wall0, db0, url)
    await engine.dispose()
    return out


def _figures(n: int, cpu0: float, wall0: float, db0: float | None, url: str) -> dict[str, Any]:
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    db = _db_backend_cpu(url)
    db_cpu = (db - db0) if db is not None and db0 is not None else None
    return {
        "events": n,
        "events_per_s": round(n / wall),
        "events_per_cpu_s": round(n / cpu),
        "events_per_cpu_s_incl_db": round(n / (cpu + db_cpu)) if db_cpu is not None else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=200, help="outbox rows per transaction")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--modes", default="orm,bulk")
    parser.add_argument("--pg", default=os.environ.get("VOLTLINE_TEST_POSTGRES_DSN"))
    args = parser.parse_args()
    for database in args.databases.split(","):
        for mode in args.modes.split(","):
            if database == "sqlite":
                url = f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/outbox.db"
                result = asyncio.run(run(url, mode, args.events, args.batch))
            elif args.pg:
                pg, name = ExternalPostgres(args.pg), f"bench_outbox_{secrets.token_hex(3)}"
                try:
                    result = asyncio.run(run(pg.create_database(name), mode, args.events, args.batch))
                finally:
                    pg.drop_database(name)
            else:
                raise SystemExit("PostgreSQL needs --pg or VOLTLINE_TEST_POSTGRES_DSN")
            print(database, result, "loadavg", os.getloadavg())


if __name__ == "__main__":
    main()

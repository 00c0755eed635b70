"""Billing's rules alone, no broker: `uv run python -m bench.pipeline.billing_rules [--events N] [--batch B]`.

Feeds the session service's realistic output (bench.pipeline.ingest.session_mix: starts, many session.updated,
some ends) through billing's dispatcher as its consumer does: the CDR path and the cost path's part (ADR 0030;
`--no-costs`: the CDR path alone), every event in TransactionBatch runs (`SOLO_EVENTS`, if any, alone), the
provider calls once each batch has committed (`Later`, awaited at the end), on a fresh SQLite file (or `--url`).
Prints events/s of wall time and per CPU-second of this process; `--profile` prints cProfile's top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from voltline_billing.adapters.cost_repository import SqlCostUnitOfWork
from voltline_billing.adapters.sandbox_provider import SandboxProvider
from voltline_billing.adapters.unit_of_work import SqlBillingUnitOfWork
from voltline_billing.bootstrap import SOLO_EVENTS
from voltline_billing.entrypoints.consumers import build_dispatcher
from voltline_billing.service_layer.context import BillingConfig, BillingContext
from voltline_billing.service_layer.costs import CostsContext
from voltline_billing.service_layer.later import Later
from voltline_events import Topics
from voltline_store import TransactionBatch, create_engine, run_migrations, session_factory

from bench.pipeline.ingest import session_mix

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "billing" / "src" / "voltline_billing" / "migrations"


class _Display:
    async def send(self, station_id: str, action: str, payload: dict[str, Any], ocpp_version: str | None) -> str:
        return "accepted"


async def run(
    url: str, events: int, batch: int, profile: cProfile.Profile | None, costs: bool = True
) -> dict[str, object]:
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    factory = session_factory(engine)
    ctx = BillingContext(
        uow=lambda: SqlBillingUnitOfWork(factory),
        topics=Topics(""),
        source="bench",
        clock=lambda: datetime.now(UTC),
        provider=SandboxProvider(),
        config=BillingConfig(default_currency="EUR", card_hold_amount=Decimal(50)),
        later=Later(),
    )
    cost_ctx = CostsContext(uow=lambda: SqlCostUnitOfWork(factory), topics=ctx.topics, source="bench",
                            clock=ctx.clock, display=_Display(), later=Later())  # fmt: skip
    handle = build_dispatcher(ctx, cost_ctx if costs else None)  # as billing's consumer (ADR 0030)
    envelopes = [e for _, e in session_mix(max(50, events // 100), events)]
    scope = TransactionBatch(factory)
    wall, cpu = time.perf_counter(), time.process_time()
    if profile is not None:
        profile.enable()
    run_: list[object] = []

    async def flush() -> None:
        for start in range(0, len(run_), batch):
            chunk = run_[start : start + batch]
            async with scope(chunk):  # type: ignore[arg-type]
                for envelope in chunk:
                    await handle(envelope)  # type: ignore[arg-type]
        run_.clear()

    for envelope in envelopes:
        if envelope.type in SOLO_EVENTS:
            await flush()
            await handle(envelope)
        else:
            run_.append(envelope)
    await flush()
    assert ctx.later is not None
    await ctx.later.idle()  # the provider calls after the batches' commits count too
    if profile is not None:
        profile.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await engine.dispose()
    return {
        "events": len(envelopes),
        "batch": batch,
        "cost_path": costs,
        "events_per_s": round(len(envelopes) / wall),
        "events_per_cpu_s": round(len(envelopes) / cpu),
        "load_average": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.pipeline.billing_rules")
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--url", default=None, help="a database URL (default: a fresh SQLite file)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--no-costs", action="store_true", help="the CDR path only (before ADR 0030's layout)")
    args = parser.parse_args()
    profile = cProfile.Profile(time.process_time) if args.profile else None
    with tempfile.TemporaryDirectory(prefix="bench-billing-rules-") as tmp:
        url = args.url or f"sqlite+aiosqlite:///{tmp}/billing.db"
        print(json.dumps(asyncio.run(run(url, args.events, args.batch, profile, not args.no_costs))), flush=True)
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()

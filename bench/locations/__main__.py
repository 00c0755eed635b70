"""The public location search at network scale: `uv run python -m bench.locations`.

Seeds `--locations` sites (two stations each, two EVSEs per station with live connector rows) spread over
Germany into a fresh diagnostics store (`--postgres`, default VOLTLINE_TEST_POSTGRES_DSN, or `--sqlite`), then
runs `--searches` searches at random positions (radius `--radius` km, every fifth with `available=true`)
through the real use case and store adapter (bounding box in SQL, haversine in Python, live status, price from
the tariff table). Prints searches/s of wall time and per CPU second of this process, the p50/p95 latency, the
locations per answer and the load average. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from voltline_diagnostics.adapters.health_tables import connectors, stations
from voltline_diagnostics.adapters.locations_repo import SqlLocationStore, location_stations, locations
from voltline_diagnostics.domain.locations import Filter
from voltline_diagnostics.domain.tariff_table import TariffTable
from voltline_diagnostics.service_layer import locations as uc
from voltline_events.payloads import TariffAssigned, TariffChanged
from voltline_store import create_engine, run_migrations, session_factory

from bench._stores import add_store_arguments, bench_database

MIGRATIONS = Path(__file__).resolve().parents[2] / "services/diagnostics/src/voltline_diagnostics/migrations"
GERMANY = ((47.3, 55.0), (5.9, 15.0))  # latitude, longitude ranges
T2 = {"connector_id": 1, "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE",
      "max_power_kw": "22"}  # fmt: skip


def _site(i: int, rng: random.Random) -> dict[str, Any]:
    lat, lon = rng.uniform(*GERMANY[0]), rng.uniform(*GERMANY[1])
    evses = [{"evse_id": e, "connectors": [T2]} for e in (1, 2)]
    return {"location_id": f"L{i:06d}", "name": f"Site {i}", "address": "Street 1", "city": "City", "country": "DEU",
            "coordinates": {"latitude": f"{lat:.6f}", "longitude": f"{lon:.6f}"}, "time_zone": "Europe/Berlin",
            "facilities": [], "opening_times": None,
            "stations": [{"station_id": f"L{i:06d}-{s}", "evses": evses} for s in (1, 2)]}  # fmt: skip


async def run(database: str, args: argparse.Namespace) -> dict[str, Any]:
    await run_migrations(database, MIGRATIONS)
    engine = create_engine(database)
    sessions = session_factory(engine)
    rng = random.Random(7)
    now = datetime.now(UTC)
    sites = [_site(i, rng) for i in range(args.locations)]
    started = time.perf_counter()
    async with sessions() as s, s.begin():
        for chunk in range(0, len(sites), 1000):
            part = sites[chunk : chunk + 1000]
            rows = [{"location_id": x["location_id"], "latitude": float(x["coordinates"]["latitude"]),
                     "longitude": float(x["coordinates"]["longitude"]), "body": x, "updated_at": now}
                    for x in part]  # fmt: skip
            await s.execute(insert(locations), rows)
            ids = [st["station_id"] for x in part for st in x["stations"]]
            loc = {st["station_id"]: x["location_id"] for x in part for st in x["stations"]}
            await s.execute(insert(location_stations), [{"station_id": i, "location_id": loc[i]} for i in ids])
            await s.execute(insert(stations), [{"station_id": i, "online": True, "since": now, "last_seen_at": now,
                                                "unresponsive": False, "updated_at": now} for i in ids])  # fmt: skip
            await s.execute(insert(connectors), [
                {"station_id": i, "evse_id": e, "connector_id": 1, "ocpp_status": "Available",
                 "status": rng.choice(("Available", "Occupied")), "since": now, "reported_at": now, "short_sessions": 0}
                for i in ids for e in (1, 2)])  # fmt: skip
    seeded_s = time.perf_counter() - started
    table = TariffTable()
    table.apply(TariffChanged(tariff_id="STD", version=1, currency="EUR", energy_price_per_kwh=Decimal("0.39"),
                              vat_percent=Decimal(19)))  # fmt: skip
    table.apply(TariffAssigned(scope="default", tariff_id="STD", assigned_at=now))
    ctx = uc.LocationsContext(SqlLocationStore(sessions), table, lambda: datetime.now(UTC))
    latencies, sizes = [], []
    cpu, wall = time.process_time(), time.perf_counter()
    for n in range(args.searches):
        lat, lon = rng.uniform(*GERMANY[0]), rng.uniform(*GERMANY[1])
        one = time.perf_counter()
        found = await uc.search(ctx, lat, lon, args.radius, Filter(available=n % 5 == 0))
        latencies.append((time.perf_counter() - one) * 1000)
        sizes.append(len(found))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await engine.dispose()
    latencies.sort()
    return {
        "store": engine.dialect.name,
        "locations": args.locations,
        "seeded_s": round(seeded_s, 1),
        "searches": args.searches,
        "radius_km": args.radius,
        "searches_per_s": round(args.searches / wall, 1),
        "searches_per_cpu_s": round(args.searches / cpu, 1) if cpu else None,
        "p50_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1], 1),
        "locations_per_answer": round(statistics.mean(sizes), 1),
        "load_average": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_store_arguments(parser)
    parser.add_argument("--locations", type=int, default=20_000)
    parser.add_argument("--searches", type=int, default=500)
    parser.add_argument("--radius", type=float, default=10.0)
    args = parser.parse_args()
    with bench_database(args, "bench_loc") as database:
        print(asyncio.run(run(database, args)))


if __name__ == "__main__":
    main()

"""Sessions benchmark: `uv run python -m bench.sessions [--stations 300]` (not part of `make test`).

The whole system as `make run` starts it (tansu broker, or `--kafka` for a real one; every service its own
process on SQLite), and hundreds of simulated stations doing what real ones do:
reboots, late readings, refused starts, rounding meters, mixed card types (tests-e2e/fleet_scenario.py).
Prints: sessions, stale actives, session/CDR energy mismatches, how sessions ended, and the time it took
until every session had ended and was billed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from voltline_devinfra._proc import free_port
from voltline_devinfra.stack import SERVICES, Stack

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests-e2e"))  # the scenario is shared with the end-to-end test

from fleet_scenario import expected_energy_wh, expected_sessions, plan, prepare, run_station, settle  # noqa: E402

PREFIX = "BENCH-"


def start_stack(args: argparse.Namespace, data: Path) -> tuple[Stack, Any, str]:
    broker = None
    if args.kafka:
        bootstrap = args.kafka
    else:
        from voltline_devinfra.tansu import TansuBroker

        broker = TansuBroker(host="127.0.0.1", port=free_port(), log_path=data / "logs" / "tansu.log")
        broker.start()
        bootstrap = broker.bootstrap_servers
    ports = {name: free_port() for name in SERVICES}
    ocpp_port = free_port(exclude=frozenset(ports.values()))
    token = secrets.token_urlsafe(24)
    databases = {name: f"sqlite+aiosqlite:///{data}/{name}.db" for name in SERVICES if name != "gateway"}
    stack = Stack(
        common_env={
            "VOLTLINE_KAFKA_BOOTSTRAP": bootstrap,
            "VOLTLINE_KAFKA_IDEMPOTENCE": "false" if broker else "true",
            "VOLTLINE_KAFKA_SESSION_TIMEOUT_MS": "2000" if broker else "10000",
            "VOLTLINE_TOPIC_PREFIX": f"bench-{secrets.token_hex(3)}.",
            "VOLTLINE_ADMIN_TOKEN": token,
            "VOLTLINE_OCPP_PORT": str(ocpp_port),
            "VOLTLINE_LOG_LEVEL": "WARNING",
        },
        ports=ports,
        database_urls=databases,
        log_dir=data / "logs",
        cwd=ROOT,
        extra_env={
            "session": {
                "VOLTLINE_SESSION_CONFIRM_GRACE_S": str(args.confirm_grace),
                "VOLTLINE_SESSION_SUSPECT_CHECK_INTERVAL_S": "1",
            }
        },
    )
    stack.start(timeout=120)
    return stack, broker, f"ws://127.0.0.1:{ocpp_port}/ocpp"


async def drive(stack: Stack, ocpp_url: str, args: argparse.Namespace) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {stack.common_env['VOLTLINE_ADMIN_TOKEN']}"}

    def client(name: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=stack.services[name].url, headers=headers, timeout=120)

    stations = plan(args.stations, PREFIX)
    async with client("auth") as auth, client("billing") as billing, client("session") as sessions:
        began = time.monotonic()
        await prepare(auth, billing, [s[0] for s in stations], {s[0]: s[2] for s in stations})
        prepared = time.monotonic()
        semaphore = asyncio.Semaphore(args.concurrency)

        async def one(station: tuple[str, str, str, str, bool]) -> None:
            async with semaphore:
                await run_station(ocpp_url, *station)

        await asyncio.gather(*(one(s) for s in stations))
        driven = time.monotonic()
        figures = await settle(sessions, billing, PREFIX, expected_sessions(args.stations), within=args.settle)
        settled = time.monotonic()
    return {
        **figures.as_dict(),
        "expected_sessions": expected_sessions(args.stations),
        "expected_energy_wh": expected_energy_wh(args.stations),
        "seconds": {
            "register": round(prepared - began, 1),
            "stations": round(driven - prepared, 1),
            "until_all_ended_and_billed": round(settled - driven, 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sessions", description=__doc__)
    parser.add_argument("--stations", type=int, default=300, help="simulated stations (half 1.6, half 2.0.1)")
    parser.add_argument("--concurrency", type=int, default=100, help="stations running their scenario at once")
    parser.add_argument("--kafka", help="bootstrap servers of a running Kafka (default: a tansu broker, as make run)")
    parser.add_argument("--confirm-grace", type=float, default=10.0, help="VOLTLINE_SESSION_CONFIRM_GRACE_S")
    parser.add_argument("--settle", type=float, default=600.0, help="seconds to wait for every session to be billed")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="bench-sessions-"))
    stack, broker = None, None
    try:
        stack, broker, ocpp_url = start_stack(args, data)
        results = asyncio.run(drive(stack, ocpp_url, args))
    finally:
        if stack is not None:
            stack.stop()
        if broker is not None:
            broker.stop()
    print(json.dumps(results, indent=2))
    print(f"(logs in {data / 'logs'})")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

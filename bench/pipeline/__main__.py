"""Benchmark of the event pipeline: `uv run python -m bench.pipeline ingest|e2e [options]`.

- `ingest`: each consuming service (session, auth, billing) as its own process drains a backlog of its
  realistic event mix, on PostgreSQL and on SQLite; prints the whole drain's events/s (the headline), the steady
  rate between 10% and 90% of the backlog, CPU seconds, events per CPU-s and the committed offsets over time.
- `e2e`: the whole system (every service as a process) with closed-loop stations driving the gateway;
  prints gateway round trips/s, each consumer's lag over time and after the load stops, the latency from a
  station's frame to the session API showing it, Authorize latency at a fixed background rate (with the
  gateway loop's wait for a core) and what each process costs idle. `--kafka tansu`: a private embedded broker.

Needs a Kafka (`--kafka`, else `VOLTLINE_TEST_KAFKA_BOOTSTRAP`) and, for PostgreSQL, a server DSN (`--pg`,
else `VOLTLINE_TEST_POSTGRES_DSN`).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from bench.gateway.procs import Procs, machine
from bench.pipeline.ingest import new_database, run_one


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.pipeline")
    parser.add_argument("mode", choices=["ingest", "e2e"])
    parser.add_argument("--kafka", default=os.environ.get("VOLTLINE_TEST_KAFKA_BOOTSTRAP"))
    parser.add_argument("--pg", default=os.environ.get("VOLTLINE_TEST_POSTGRES_DSN"))
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--services", default="session,auth,billing")
    parser.add_argument("--databases", default="postgresql,sqlite")
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=2, help="e2e: processes of simulated stations")
    parser.add_argument("--drain-limit", type=float, default=300.0, help="e2e: wait this long for lag zero")
    parser.add_argument("--e2e-database", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--parts", default="loop,authorize", help="e2e: idle, loop and/or authorize")
    parser.add_argument("--auth-rate", type=float, default=20.0)
    parser.add_argument("--background-rate", type=float, default=2000.0)
    parser.add_argument("--background-stations", type=int, default=200)
    parser.add_argument(
        "--background-warmup",
        type=float,
        default=15.0,
        help="e2e: seconds the Authorize part's stations run before the timed window (they join over its first "
        "two thirds, each starting its transaction)",
    )
    parser.add_argument(
        "--bulk-nice",
        type=int,
        default=None,
        help="e2e: the threads' nice value of session, billing, diagnostics, analytics once ready, their "
        "autogroup's too with --own-sessions (default: make run's)",
    )
    parser.add_argument(
        "--bulk-policy",
        default=None,
        choices=["normal", "batch", "idle"],
        help="e2e: their threads' scheduling policy once ready (default: make run's)",
    )
    parser.add_argument(
        "--bulk-at-start",
        action="store_true",
        help="e2e: lower them at start-up instead, by their nice value only (make run before round 13: "
        "--bulk-nice 5 --bulk-at-start)",
    )
    parser.add_argument(
        "--gateway-nice", type=int, default=0, help="e2e: the gateway's nice value (below 0: run as root)"
    )
    parser.add_argument(
        "--gateway-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="e2e: a setting for the gateway only (e.g. VOLTLINE_GC_THRESHOLDS=[20000,20,20], the default before)",
    )
    parser.add_argument(
        "--request-slice-us",
        type=int,
        default=None,
        help="e2e: scheduler slice of the gateway, auth and a private tansu (default: make run's; 0: the kernel's)",
    )
    parser.add_argument(
        "--own-sessions",
        action="store_true",
        help="e2e: start each service in a session (an autogroup) of its own, as make run did before ADR 0046 "
        "(default: in the benchmark's session, as make run does now)",
    )
    parser.add_argument(
        "--websockets-client",
        action="store_true",
        help="e2e: background stations on the websockets client (default: pre-encoded frames on raw sockets)",
    )
    parser.add_argument(
        "--hop-trace",
        default=None,
        metavar="DIR",
        help="e2e: trace each probe Authorize's hops into DIR (bench.pipeline.hoptrace; the gateway runs hooked)",
    )
    parser.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="ingest: a setting for the service (e.g. VOLTLINE_CONSUMER_PIPELINE_PARTITIONS=false), for A/B runs",
    )
    parser.add_argument(
        "--pyspy",
        default=None,
        metavar="DIR",
        help="ingest: py-spy (from PyPI) samples each service process over its drain at 250 Hz into DIR (raw stacks)",
    )
    parser.add_argument("--broker", default="kafka", choices=["kafka", "tansu"], help="e2e: tansu = a private one")
    parser.add_argument("--flow", default="on", choices=["on", "off"], help="e2e: the gateway's flow control")
    args = parser.parse_args()
    if args.hop_trace:
        args.hop_trace = str(Path(args.hop_trace).resolve())
    if args.kafka == "tansu":  # --kafka tansu: the same as --broker tansu
        args.broker, args.kafka = "tansu", None
    broker = None
    if args.mode == "e2e" and args.broker == "tansu":
        from voltline_devinfra.run import broker_slice_us
        from voltline_devinfra.tansu import TansuBroker

        slice_us = args.request_slice_us if args.request_slice_us is not None else int(broker_slice_us() or 0)
        broker = TansuBroker(slice_us=slice_us).start()  # as make run starts it
        args.kafka = broker.bootstrap_servers
    if not args.kafka:
        raise SystemExit("give --kafka HOST:PORT or --broker tansu (or set VOLTLINE_TEST_KAFKA_BOOTSTRAP)")
    print(f"machine: {machine()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        procs = Procs(Path(tmp))
        try:
            if args.mode == "ingest":
                for database in args.databases.split(","):
                    for service in args.services.split(","):
                        if database == "postgresql":
                            if not args.pg:
                                raise SystemExit("give --pg DSN (or set VOLTLINE_TEST_POSTGRES_DSN)")
                            url = new_database(args.pg)
                        else:
                            url = f"sqlite+aiosqlite:///{tmp}/{service}.db"
                        profile = None
                        if args.pyspy:
                            Path(args.pyspy).mkdir(parents=True, exist_ok=True)
                            profile = Path(args.pyspy).resolve() / f"{service}-{database}-{os.getpid()}.txt"
                        extra = dict(item.split("=", 1) for item in args.service_env)
                        result = run_one(procs, args.kafka, service, url, args.events, profile=profile, extra_env=extra)
                        if profile is not None:
                            result["profile"] = str(profile)
                        print(json.dumps(result), flush=True)
            else:
                from bench.pipeline.e2e import run_e2e

                print(json.dumps(run_e2e(procs, args)), flush=True)
        finally:
            procs.stop_all()
            if broker is not None:
                broker.stop()


if __name__ == "__main__":
    main()

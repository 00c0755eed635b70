"""``python -m voltline_devinfra``: pre-fetch test infrastructure or run a server by hand.

``fetch`` runs before pytest in ``make test`` so a first-time download shows up as its own
step (with its duration) instead of as a mysteriously slow first test.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from types import FrameType


def _fetch() -> int:
    from voltline_devinfra.kafka import KAFKA_VERSION, ensure_kafka_jars, java_executable
    from voltline_devinfra.postgres import ensure_postgres_binaries

    began = time.monotonic()
    libs = ensure_kafka_jars()
    print(f"kafka {KAFKA_VERSION} jars: {libs} ({time.monotonic() - began:.1f} s)", flush=True)
    print(f"java: {java_executable()}", flush=True)
    began = time.monotonic()
    bindir = ensure_postgres_binaries()
    print(f"postgresql binaries: {bindir} ({time.monotonic() - began:.1f} s)", flush=True)
    from voltline_devinfra.prometheus import node_exporter_binary, prometheus_binary, promtool
    from voltline_devinfra.toolchain import compose_schema, helm_binary, prometheus_operator_crds

    began = time.monotonic()
    tools = [prometheus_binary(), promtool(), node_exporter_binary(), str(helm_binary()), str(compose_schema())]
    tools.append(str(prometheus_operator_crds()))
    from voltline_devinfra.browser import chromedriver_binary, chromium_binary

    tools += [chromium_binary(), chromedriver_binary()]  # the console's browser tests
    print(f"sre tools: {', '.join(tools)} ({time.monotonic() - began:.1f} s)", flush=True)
    return 0


def _wait_for_interrupt() -> None:
    """Block until Ctrl-C or SIGTERM; the caller's ``with`` block then stops the server."""

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)


def _kafka(port: int | None) -> int:
    from voltline_devinfra.kafka import KafkaServer

    with KafkaServer(port=port) as server:
        print(f"kafka {server.bootstrap_servers}  (started in {server.startup_seconds:.1f} s)")
        print(f"  log: {server.log_path}\n  Ctrl-C to stop", flush=True)
        _wait_for_interrupt()
    return 0


def _postgres(port: int | None) -> int:
    from voltline_devinfra.postgres import PostgresServer

    with PostgresServer(port=port) as server:
        print(f"postgres {server.url()}  (started in {server.startup_seconds:.1f} s)")
        print(f"  psql -h {server.host} -p {server.port} -U postgres")
        print(f"  log: {server.log_path}\n  Ctrl-C to stop", flush=True)
        _wait_for_interrupt()
    return 0


def _tansu(port: int | None) -> int:
    from voltline_devinfra.tansu import TansuBroker

    with TansuBroker(port=port) as server:
        print(f"tansu {server.bootstrap_servers}  (in-memory; use enable_idempotence=False)")
        print(f"  log: {server.log_path}\n  Ctrl-C to stop", flush=True)
        _wait_for_interrupt()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one subcommand."""
    parser = argparse.ArgumentParser(prog="python -m voltline_devinfra", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="download the Kafka jars; install PostgreSQL, Prometheus and helm")
    for name, what in (("kafka", "Apache Kafka (KRaft)"), ("postgres", "PostgreSQL"), ("tansu", "tansu")):
        cmd = sub.add_parser(name, help=f"run a throwaway {what} in the foreground until Ctrl-C")
        cmd.add_argument("--port", type=int, default=None, help="listen port (default: a free one)")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            return _fetch()
        runner = {"kafka": _kafka, "postgres": _postgres, "tansu": _tansu}[args.command]
        return runner(args.port)
    except RuntimeError as exc:  # ServerError and install failures: message, not traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

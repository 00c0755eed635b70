"""`make run`: the whole system on the embedded default, no Docker and no Java.

A tansu broker (Kafka-compatible, topics in memory) and every service as its own process, each with
a SQLite store under ./data. The admin token comes from VOLTLINE_ADMIN_TOKEN, else from
data/admin-token, else is generated; either way it is (re)written to data/admin-token, where the banner
and the docs tell users to read it. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import time
from pathlib import Path

from voltline_devinfra._proc import POLICIES, ServerError
from voltline_devinfra.stack import CONSOLE, DEFAULT_PORTS, SERVICES, Stack
from voltline_devinfra.tansu import TansuBroker

BULK = ("session", "billing", "diagnostics", "analytics")
"""Services that drain event streams nobody waits on (diagnostics runs maintenance too): once ready they run at a
lower priority (`bulk_priority`, docs/adr/0036)."""

BULK_NICE = "5"
"""The nice value of the bulk consumers' threads once ready (VOLTLINE_BULK_NICE). They share make run's autogroup with
the request path (docs/adr/0046), so it ranks them there (5 weighs 335 against nice 0's 1,024) under the `normal`
and `batch` policies; a SCHED_IDLE thread weighs 3 whatever its nice value."""

BULK_POLICY = "idle"
"""Their threads' scheduling policy once ready (VOLTLINE_BULK_POLICY: normal, batch or idle). SCHED_IDLE: inside the
autogroup they share with the request path they get what the gateway, auth and the load around them leave, and a
waking thread of the request path preempts them at once and wakes on the core they hold."""

START_TIMEOUT_S = 300
"""How long make run waits for every service's `/readyz` before it gives up. Its services share one autogroup
(docs/adr/0046), so on a machine busy with other sessions' work they start on one session's share of the CPU: seven
Python services took over 90 s at load 13-18 (fresh-clone tests beside two engineers' benchmarks), ~15 s idle."""

LONG_POLL_REPLIES = ("session", "billing")
"""Services whose only short-wait reader is the reply reader of their own requests (remote starts, station
displays): nobody stands at a charger for those, so it long-polls (VOLTLINE_KAFKA_REQUEST_FETCH_WAIT_MS) instead
of fetching 100 times a second while idle (auth and diagnostics have a setting of their own for theirs)."""


GATEWAY_EVENT_LINGER_MS = "20"
"""Under `make run` the gateway shares two cores with the broker and five services: its station events leave in
20 ms windows (the service's default is 5), ~45 produce requests a second at 2,000 events/s instead of ~150, which
saves the gateway 10-15 and tansu 5-20 us of CPU per event (bench.gateway.writer). Answers that wait for the
broker come up to 20 ms later; a locally answered Authorize and requests to auth do not wait for the window."""

REQUEST_PATH = ("gateway", "auth")
"""Services a caller waits on (a station's Authorize, a start asked of auth): they, and the embedded broker, get a
short scheduler slice under `make run` (VOLTLINE_SCHED_SLICE_US, `_proc.set_sched_slice`)."""

REQUEST_PATH_SLICE_US = "100"
"""The request path's scheduler slice (Linux >= 6.12): waking, it preempts a bulk consumer at once instead of
waiting out that consumer's slice (~1.4 ms on 2 cores, and more behind each one queued); its share of the CPU
is unchanged. bench/RESULTS.md, twelfth round. 0: the kernel's default."""

TANSU_REQUEST_FETCH_WAIT_MS = "25"
"""The request path's readers on the embedded broker (the gateway's reply reader, auth's request consumer;
VOLTLINE_REQUEST_PATH_FETCH_WAIT_MS), 10 ms elsewhere. tansu answers a held fetch at polls it spaces wider the
longer the fetch waits, each poll ~0.1 ms of its CPU: these two idle readers at 10 ms cost it ~85 ms of CPU a
second, 40-45 us per message at 2,000/s; at 25 ms tansu's idle CPU fell from ~11 to ~8.5 CPU-s a minute
(bench/RESULTS.md, thirteenth round). A record still reaches a reader 25 ms deep within ~5 ms at the median."""

KAFKA_FETCH_WAIT_MS = "500"
"""On Apache Kafka a held fetch is answered as soon as a record arrives (bench/request_reply: p50 2.0 ms at 200 ms
as at 10 ms), so with an external Kafka every reader long-polls; tansu sleeps through part of the wait."""


def service_env(spool_dir: Path | None = None, *, embedded: bool = True) -> dict[str, dict[str, str]]:
    """What `make run` sets per service beyond the common settings (bench.pipeline e2e starts them alike).

    `embedded`: the broker is make run's tansu (else an external Kafka given by VOLTLINE_KAFKA_BOOTSTRAP)."""
    env: dict[str, dict[str, str]] = {name: {} for name in (*BULK, "gateway", "auth")}
    waits = dict.fromkeys(LONG_POLL_REPLIES, "200")
    waits |= dict.fromkeys(
        REQUEST_PATH, os.environ.get("VOLTLINE_REQUEST_PATH_FETCH_WAIT_MS", TANSU_REQUEST_FETCH_WAIT_MS)
    )
    if not embedded:  # the request path too: an idle reader at 10 ms fetches 100 times a second for nothing
        waits = dict.fromkeys(env, KAFKA_FETCH_WAIT_MS)
        tail = os.environ.get("VOLTLINE_TAIL_FETCH_WAIT_MS", KAFKA_FETCH_WAIT_MS)
        env["gateway"]["VOLTLINE_TAIL_FETCH_WAIT_MS"] = tail
    for name, wait in waits.items():
        env[name]["VOLTLINE_KAFKA_REQUEST_FETCH_WAIT_MS"] = os.environ.get("VOLTLINE_KAFKA_REQUEST_FETCH_WAIT_MS", wait)
    for name in REQUEST_PATH:  # a station waits on these: they preempt the bulk consumers when they wake
        env[name]["VOLTLINE_SCHED_SLICE_US"] = broker_slice_us()
    # ADR 0027: stations get slower answers rather than consumers falling behind without bound.
    env["gateway"]["VOLTLINE_FLOW_CONTROL"] = os.environ.get("VOLTLINE_FLOW_CONTROL", "true")
    env["gateway"]["VOLTLINE_EVENT_LINGER_MS"] = os.environ.get("VOLTLINE_EVENT_LINGER_MS", GATEWAY_EVENT_LINGER_MS)
    if spool_dir is not None:
        env["gateway"]["VOLTLINE_SPOOL_DIR"] = str(spool_dir)
    return env


def bulk_priority() -> dict[str, tuple[int, str]]:
    """What each bulk consumer is lowered to once ready, (threads' nice, policy): `Stack.ready_priority`.

    They start at normal priority: started low (nice 10) on a busy machine they did not come up within 90 s."""
    nice = max(0, min(19, int(os.environ.get("VOLTLINE_BULK_NICE", BULK_NICE))))
    policy = os.environ.get("VOLTLINE_BULK_POLICY", BULK_POLICY)
    if policy not in POLICIES:
        raise ValueError(f"VOLTLINE_BULK_POLICY={policy!r}: one of {', '.join(POLICIES)}")
    return dict.fromkeys(BULK, (nice, policy))


def broker_slice_us() -> str:
    """The request path's scheduler slice in microseconds (the embedded broker's too): VOLTLINE_SCHED_SLICE_US."""
    return os.environ.get("VOLTLINE_SCHED_SLICE_US", REQUEST_PATH_SLICE_US)


def admin_token(data_dir: Path) -> str:
    """The token the services accept, always also in data/admin-token (owner-only), as the banner says."""
    path = data_dir / "admin-token"
    stored = path.read_text().strip() if path.exists() else ""
    if path.exists():
        path.chmod(0o600)  # an older make run wrote it world-readable
    token = os.environ.get("VOLTLINE_ADMIN_TOKEN", "").strip() or stored or secrets.token_urlsafe(32)
    if token != stored:
        path.unlink(missing_ok=True)
        # Created 0600 from the start: a write-then-chmod leaves a moment in which anyone may read it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(token + "\n")
    return token


def private_data_dir(data_dir: Path) -> None:
    """Databases, logs and the admin token are for this user only: files 0600, folders 0700.

    The umask is inherited by every process make run starts (services create their SQLite files, the
    broker and services their logs); what an older run left readable is tightened once.
    """
    os.umask(0o077)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    for path in data_dir.rglob("*"):
        if not path.is_symlink():
            path.chmod(0o700 if path.is_dir() else 0o600)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--host", default=os.environ.get("VOLTLINE_HTTP_HOST", "127.0.0.1"))
    parser.add_argument("--kafka-port", type=int, default=int(os.environ.get("VOLTLINE_KAFKA_PORT", "9092")))
    parser.add_argument("--ocpp-port", type=int, default=int(os.environ.get("VOLTLINE_OCPP_PORT", "9000")))
    args = parser.parse_args(argv)

    data_dir: Path = args.data_dir.resolve()
    private_data_dir(data_dir)
    token = admin_token(data_dir)
    started = time.monotonic()

    external = os.environ.get("VOLTLINE_KAFKA_BOOTSTRAP")
    broker: TansuBroker | None = None
    if external:
        bootstrap = external
    else:
        broker = TansuBroker(
            host="127.0.0.1",
            port=args.kafka_port,
            log_path=data_dir / "logs" / "tansu.log",
            slice_us=int(broker_slice_us() or 0),  # every answer a station waits on passes through it
        )
        broker.start()
        bootstrap = broker.bootstrap_servers
    stack = Stack(
        common_env={
            "VOLTLINE_KAFKA_BOOTSTRAP": bootstrap,
            "VOLTLINE_KAFKA_IDEMPOTENCE": os.environ.get("VOLTLINE_KAFKA_IDEMPOTENCE", "false" if broker else "true"),
            "VOLTLINE_KAFKA_SESSION_TIMEOUT_MS": os.environ.get(
                "VOLTLINE_KAFKA_SESSION_TIMEOUT_MS", "2000" if broker else "10000"
            ),
            "VOLTLINE_ADMIN_TOKEN": token,
            "VOLTLINE_HTTP_HOST": args.host,
            "VOLTLINE_OCPP_HOST": os.environ.get("VOLTLINE_OCPP_HOST", args.host),
            "VOLTLINE_OCPP_PORT": str(args.ocpp_port),
        },
        ports={
            name: int(os.environ.get(f"VOLTLINE_{name.upper()}_HTTP_PORT", port))
            for name, port in DEFAULT_PORTS.items()
        },
        database_urls={
            name: os.environ.get(f"VOLTLINE_{name.upper()}_DATABASE_URL", f"sqlite+aiosqlite:///{data_dir}/{name}.db")
            for name in SERVICES
            if name != "gateway"
        },
        names=(*SERVICES, CONSOLE),
        log_dir=data_dir / "logs",
        # The embedded broker forgets what it acknowledged when it dies: the gateway keeps a spool to send again.
        extra_env=service_env(data_dir / "gateway-spool" if broker else None, embedded=broker is not None),
        ready_priority=bulk_priority(),  # the bulk consumers give way to the request path once they are up
        one_autogroup=True,  # ...inside the one autogroup they share with it (docs/adr/0046)
    )

    stopping = False

    def _stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        stack.start(timeout=START_TIMEOUT_S)
        _print_banner(stack, args, token, data_dir, time.monotonic() - started)
        while not stopping:
            supervise(stack, broker)
            time.sleep(0.5)
    except ServerError as exc:
        print(f"voltline failed to start: {exc}", file=sys.stderr)
        return 1
    finally:
        print("\nstopping voltline...", flush=True)
        stack.stop()
        if broker is not None:
            broker.stop()
        print("stopped.", flush=True)
    return 0


def supervise(stack: Stack, broker: TansuBroker | None) -> None:
    """One round of supervision: bring back a dead broker, then dead services; say so on the console.

    Nothing here gives up: a service that does not come back is tried again next round, and the others
    wait for the broker instead of exiting.
    """
    if broker is not None and not broker.is_running:
        print(
            f"!! the embedded broker (tansu) exited; see {broker.log_path}. Restarting it: it comes back empty,"
            " the services recreate their topics and the gateway sends again what it acknowledged.",
            flush=True,
        )
        try:
            broker.revive()
            print(f"   broker back on {broker.bootstrap_servers} (restart {broker.restarts}).", flush=True)
        except ServerError as exc:
            print(f"!! the broker did not come back yet ({exc}); trying again.", flush=True)
            return
    for name in stack.dead():
        print(f"!! {name} exited; see {stack.services[name].log_path}. Restarting it.", flush=True)
        try:
            stack.restart(name)
        except ServerError as exc:
            print(f"!! {name} is not back yet ({str(exc).splitlines()[0]}); will check again.", flush=True)


def _print_banner(stack: Stack, args: argparse.Namespace, token: str, data_dir: Path, took: float) -> None:
    print(f"\nvoltline is up ({took:.1f} s). Ctrl-C stops everything.\n", flush=True)
    print(f"  OCPP (stations)   ws://{args.host}:{args.ocpp_port}/ocpp/{{station_id}}  (ocpp1.6, ocpp2.0.1, ocpp2.1)")
    for name in ("gateway", "auth", "session", "billing", "diagnostics", "analytics"):
        service = stack.services[name]
        print(f"  {name:<17} {service.url}   docs: {service.url}/docs")
    print(f"  {'console':<17} {stack.services[CONSOLE].url}   (log in with the admin token or an API key)")
    print(
        f"\n  admin token       {token}\n  (also in {data_dir / 'admin-token'}; logs in {data_dir / 'logs'})\n",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())

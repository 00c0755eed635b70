"""The gateway's own CPU per station message at a fixed background rate, without the other services.

`uv run python -m bench.gateway.cpu --kafka HOST:PORT [--rate 2000] [--stations 1000] [--seconds 20]
[--profile FILE]`: the gateway (`python -m voltline_gateway`, settings as `make run` gives it), an instant
auth stand-in (bench.gateway.auth_responder: the stations' transaction starts) and the realistic mix from
`--stations` stations at `--rate` messages/s (bench.gateway.load latency, hand-made WebSockets), with a few
Authorize calls a second. Prints the gateway's CPU microseconds per message (the figure bench.pipeline e2e
charges to the gateway, here without five other services competing for the cores) and the Authorize
p50/p99. `--profile FILE`: py-spy (from PyPI) samples the gateway over the timed window, collapsed stacks.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from voltline_devinfra._proc import free_port
from voltline_devinfra.run import service_env

from bench.gateway.__main__ import TOKEN, run_clients
from bench.gateway.procs import Procs, cpu_seconds, cpu_split, register, wait_line, wait_ready

PY = sys.executable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kafka", default=os.environ.get("VOLTLINE_TEST_KAFKA_BOOTSTRAP"), required=False)
    parser.add_argument("--rate", type=float, default=2000.0, help="background messages per second")
    parser.add_argument("--stations", type=int, default=1000, help="background stations")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--auth-rate", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds of traffic before the timed window")
    parser.add_argument("--linger-ms", type=int, help="VOLTLINE_EVENT_LINGER_MS for the gateway")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the gateway (repeatable)")
    parser.add_argument("--profile", type=Path, help="py-spy the gateway over the timed window into this file")
    args = parser.parse_args()
    if not args.kafka:
        raise SystemExit("--kafka HOST:PORT (or VOLTLINE_TEST_KAFKA_BOOTSTRAP) is needed")
    prefix = f"bench-{secrets.token_hex(3)}."
    with tempfile.TemporaryDirectory(prefix="bench-gwcpu-") as folder:
        procs = Procs(Path(folder))
        try:
            print(json.dumps(run(procs, args, prefix)), flush=True)
        finally:
            procs.stop_all()


def run(procs: Procs, args: argparse.Namespace, prefix: str) -> dict[str, object]:
    auth_stations = 10
    ids = [f"LAT-{i:06d}" for i in range(auth_stations + args.stations)]
    import asyncio

    asyncio.run(register(args.kafka, prefix, ids))
    responder = procs.spawn("auth-responder", [PY, "-m", "bench.gateway.auth_responder", args.kafka, prefix])
    wait_line(responder)
    http, ocpp = free_port(), free_port()
    env = {
        **service_env(embedded=False).get("gateway", {}),
        "VOLTLINE_KAFKA_BOOTSTRAP": args.kafka,
        "VOLTLINE_KAFKA_IDEMPOTENCE": "false",
        "VOLTLINE_TOPIC_PREFIX": prefix,
        "VOLTLINE_ADMIN_TOKEN": TOKEN,
        "VOLTLINE_INSTANCE_ID": "bench-gwcpu",
        "VOLTLINE_HTTP_PORT": str(http),
        "VOLTLINE_OCPP_PORT": str(ocpp),
        "VOLTLINE_LOG_LEVEL": "WARNING",
        "VOLTLINE_FRAMES_PER_SECOND": "10000",
        "VOLTLINE_FRAME_BURST": "10000",
        "VOLTLINE_FLOW_CONTROL": "false",
        "VOLTLINE_LOCAL_AUTHORIZE": "false",  # no auth service publishing decisions: Authorize asks the stand-in
    }
    if args.linger_ms is not None:
        env["VOLTLINE_EVENT_LINGER_MS"] = str(args.linger_ms)
    env.update(dict(item.split("=", 1) for item in args.env))
    gateway = procs.spawn("gateway", [PY, "-m", "voltline_gateway"], env)
    wait_ready(f"http://127.0.0.1:{http}")
    url = f"ws://127.0.0.1:{ocpp}/ocpp"
    common = {"url": url, "prefix": "LAT-", "auth_rate": args.auth_rate, "bg_rate": args.rate, "raw": True}
    # Warm-up on the same connections: every background station starts its transaction (asks the stand-in)
    # and runs the mix a while before the timed window.
    start_at = time.time() + 8 + args.warmup
    timed = {**common, "duration": args.seconds, "start_at": start_at, "warmup": args.warmup}
    probe = {**timed, "auth": [0, auth_stations, 1], "background": [0, 0, 1]}
    load = {**timed, "auth": [0, 0, 1], "background": [auth_stations, len(ids), 1]}
    window: dict[str, float] = {}
    split: dict[str, tuple[float, float, int]] = {}

    def sample() -> None:
        time.sleep(max(0.0, start_at - time.time()))
        window["start"] = cpu_seconds(gateway.pid)
        split["start"] = cpu_split(gateway.pid)
        spy = None
        if args.profile and shutil.which("py-spy"):
            spy = subprocess.Popen(
                ["py-spy", "record", "-p", str(gateway.pid), "-d", str(int(args.seconds)), "-r", "200", "-f", "raw",
                 "-o", str(args.profile)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        time.sleep(args.seconds)
        window["end"] = cpu_seconds(gateway.pid)
        split["end"] = cpu_split(gateway.pid)
        if spy is not None:
            spy.wait(timeout=60)

    sampler = threading.Thread(target=sample)
    sampler.start()
    result, background = run_clients(procs, "latency", [probe, load])
    sampler.join()
    messages = background["background_per_s"] * args.seconds + result["authorize_count"]
    gateway_cpu = window["end"] - window["start"]
    user, system, sleeps = (b - a for a, b in zip(split["start"], split["end"], strict=True))
    per_msg = 1e6 / max(1.0, messages)
    return {
        "background_msgs_per_s": round(background["background_per_s"]),
        "background_skipped": background.get("background_skipped"),
        "background_errors": background.get("background_errors"),
        "authorize_p50_ms": round(result.get("p50_ms", -1), 1),
        "authorize_p99_ms": round(result.get("p99_ms", -1), 1),
        "gateway_cpu_s": round(gateway_cpu, 2),
        "gateway_cpu_us_per_msg": round(1e6 * gateway_cpu / max(1.0, messages)),
        # Where the gateway's CPU goes: its own code (user) and the kernel's (system calls: socket reads and
        # writes, epoll), and how often its threads slept (each a wake-up: a loop turn that waited in epoll).
        "gateway_user_us_per_msg": round(user * per_msg),
        "gateway_system_us_per_msg": round(system * per_msg),
        "gateway_sleeps_per_msg": round(sleeps / max(1.0, messages), 2),
        "load_generator_cpu_us_per_msg": background.get("client_cpu_us_per_message"),
        "load_average": round(os.getloadavg()[0], 1),
    }


if __name__ == "__main__":
    main()

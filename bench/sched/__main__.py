"""What EEVDF does with the bulk consumers' possible priorities under autogroups (docs/adr/0036, 0046).

`uv run python -m bench.sched [--seconds 4] [--rounds 2] [--bulk 3] [--hogs 0]`

Every process is started as `make run` starts one in the layout (`_proc.spawn`): in a session, so an autogroup,
of its own (make run before ADR 0046), or in the benchmark's session, sharing one autogroup (`shared`: make run now):
- a *request* process (the gateway's stand-in, the request path's 100 us slice): it sleeps 2 ms, then works
  0.3 ms of CPU, again and again; how late it wakes (the oversleep) and how long its 0.3 ms take on the wall
  clock are what a waiting charger pays;
- `--bulk` busy loops (the bulk consumers' stand-ins), lowered once running by `_proc.lower_priority` with each
  layout's nice value (their autogroups' too in their own sessions) and thread policy;
- `--hogs` busy loops at normal priority (other work wanting every core: a saturated request path, other
  users): what share the bulk loops keep then, i.e. whether a layout starves them.

The layouts run in turn, `--rounds` times, each for `--seconds`. Printed per layout: the request's oversleep
p50 / p99 / max and its work's stretch p99 (ms), the bulk loops' CPU-s per wall second (how many cores they
got; with no hogs: the idle cycles they take), the hogs' and the request's.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from voltline_devinfra._proc import lower_priority, set_autogroup_nice, spawn, terminate

from bench.gateway.procs import cpu_seconds

LAYOUTS = {  # name: (nice, thread policy, one autogroup for all)
    "nice 0": (0, "normal", False),
    "nice 5": (5, "normal", False),
    "nice 10": (10, "normal", False),
    "nice 19": (19, "normal", False),
    "batch nice 10": (10, "batch", False),
    "idle nice 0": (0, "idle", False),
    "idle nice 5 (make run before)": (5, "idle", False),
    "idle nice 10": (10, "idle", False),
    "idle nice 19": (19, "idle", False),
    "shared nice 5": (5, "normal", True),
    "shared idle (make run)": (5, "idle", True),
}

REQUEST = """
import json, sys, time
period, work, until = 0.002, 0.0003, time.monotonic() + float(sys.argv[1])
late, stretch = [], []
while time.monotonic() < until:
    target = time.monotonic() + period
    time.sleep(period)
    woke = time.monotonic()
    late.append(woke - target)
    start = time.thread_time()
    while time.thread_time() - start < work:
        pass
    stretch.append(time.monotonic() - woke)
print(json.dumps({"late": late, "stretch": stretch}))
"""


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def run_layout(folder: Path, layout: tuple[int, str, bool], args: argparse.Namespace) -> dict[str, object]:
    nice, policy, shared = layout
    busy = [sys.executable, "-c", "while True: pass"]
    own = not shared
    bulk = [spawn(busy, log_path=folder / "bulk.log", cwd=folder, own_session=own) for _ in range(args.bulk)]
    hogs = [spawn(busy, log_path=folder / "hog.log", cwd=folder, own_session=own) for _ in range(args.hogs)]
    for proc in bulk:
        if own:
            set_autogroup_nice(proc.pid, nice)
        lower_priority(proc.pid, nice=nice, policy=policy)
    request = spawn(
        [sys.executable, "-c", REQUEST, str(args.seconds)],
        log_path=folder / "r.log",
        cwd=folder,
        own_session=own,
        slice_us=100,
    )
    time.sleep(0.3)
    cpu0 = {p.pid: cpu_seconds(p.pid) for p in [*bulk, *hogs, request]}
    started = time.monotonic()
    request.wait(timeout=args.seconds + 60)
    wall = time.monotonic() - started
    cpu = {pid: cpu_seconds(pid) - c for pid, c in cpu0.items() if pid != request.pid}
    for proc in [*bulk, *hogs]:
        terminate(proc, signal.SIGKILL)
    lines = (folder / "r.log").read_text().strip().splitlines()
    (folder / "r.log").unlink()
    samples = json.loads(lines[-1])
    return {
        "oversleep_p50_ms": quantile(samples["late"], 0.5),
        "oversleep_p99_ms": quantile(samples["late"], 0.99),
        "oversleep_max_ms": quantile(samples["late"], 1.0),
        "work_0.3ms_p99_ms": quantile(samples["stretch"], 0.99),
        "bulk_cores": round(sum(cpu[p.pid] for p in bulk) / wall, 2),
        "hog_cores": round(sum(cpu[p.pid] for p in hogs) / wall, 2),
        "load": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.sched", description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--bulk", type=int, default=3)
    parser.add_argument("--hogs", type=int, default=0)
    parser.add_argument("--layouts", default=",".join(LAYOUTS), help="comma-separated names of LAYOUTS")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.layouts.split(",")]
    print(f"kernel {os.uname().release}, {os.cpu_count()} cores, bulk {args.bulk}, hogs {args.hogs}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-sched-") as tmp:
        for round_ in range(args.rounds):
            for name in chosen:
                result = run_layout(Path(tmp), LAYOUTS[name], args)
                print(json.dumps({"round": round_, "layout": name, **result}), flush=True)


if __name__ == "__main__":
    main()

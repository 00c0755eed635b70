"""Bench-only trace of the Authorize probe's hops (`bench.pipeline e2e --hop-trace`): where a slow call waits.

`python -m bench.pipeline.hoptrace DIR` runs the gateway (`voltline_gateway`'s `__main__`) with hooks that
write, into DIR, for every frame of a probe station (`LAT-00000x`): when the event loop read its bytes
(websockets' `data_received`), when the dispatcher started and ended with it, and when the answer was
written; for every turn of the event loop: when it entered and left `epoll` and the loop thread's time on a
core and waiting for one (/proc/thread-self/schedstat) at that moment; and every GC collection. The probe
client (`bench.gateway.load latency` with `trace`) writes each call's send and receive times and its own
thread's wait for a core. All times are CLOCK_MONOTONIC (one clock for every process on the machine), so
`analyse` puts a call's hops side by side:

  send -> loop read (the gateway asleep in epoll and woken late: it waited for a core; or busy with a turn of
  other callbacks) -> dispatch -> answer written -> client read (the client waiting for a core).

Nothing here is product code: the hooks cost ~1 us per loop turn and a few per probe frame.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import runpy
import selectors
import sys
import threading
import time
from array import array
from pathlib import Path
from typing import Any

PROBE_PREFIX = "LAT-00000"  # the Authorize part's 10 probe stations (LAT-000000..LAT-000009)


def _schedstat_reader() -> Any:
    fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)

    def read() -> tuple[int, int]:
        ran, waited, _ = os.pread(fd, 64, 0).split()
        return int(ran), int(waited)

    return read


def install_gateway(folder: Path) -> None:
    """Hook the gateway's loop, websockets and the dispatcher (before the gateway's modules are imported)."""
    from voltline_gateway.service_layer.dispatch import Dispatcher
    from websockets.asyncio.connection import Connection

    folder.mkdir(parents=True, exist_ok=True)
    main = threading.get_ident()
    sched = _schedstat_reader()
    turns = array("d")  # enter, leave, ran_ns, waited_ns per turn of the loop
    gcs = array("d")  # start, end, generation, CPU seconds of the loop thread in it
    frames = open(folder / "gateway-frames.jsonl", "a", buffering=1)
    pending: dict[int, dict[str, Any]] = {}
    slow_gcs = open(folder / "gateway-slow-gc.jsonl", "a", buffering=1)

    original_select = selectors.EpollSelector.select

    def select(self: selectors.EpollSelector, timeout: float | None = None) -> Any:
        if threading.get_ident() != main:
            return original_select(self, timeout)
        entered = time.monotonic()
        events = original_select(self, timeout)
        left = time.monotonic()
        ran, waited = sched()
        turns.extend((entered, left, ran, waited))
        return events

    selectors.EpollSelector.select = select  # type: ignore[method-assign]

    gc_started = [0.0, 0.0]
    big_young = bool(os.environ.get("HOPTRACE_BIG_YOUNG"))

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            if big_young and info["generation"] == 0:
                _big_young(slow_gcs)
            gc_started[:] = time.monotonic(), time.thread_time()
        else:
            cpu = time.thread_time() - gc_started[1]
            gcs.extend((gc_started[0], time.monotonic(), info["generation"], cpu))
            if cpu > 0.005:  # a slow one: what it found
                slow_gcs.write(json.dumps({"at": gc_started[0], "cpu_ms": round(1000 * cpu, 1), **info}) + "\n")

    gc.callbacks.append(on_gc)

    def traced(conn: Any) -> bool:
        flag = conn.__dict__.get("_hoptrace")
        if flag is None:
            request = getattr(conn, "request", None)
            if request is None:  # the upgrade request itself: not known yet
                return False
            flag = PROBE_PREFIX in request.path
            conn.__dict__["_hoptrace"] = flag
        return bool(flag)

    original_received = Connection.data_received

    def data_received(self: Connection, data: bytes) -> None:
        if traced(self) and id(self) not in pending:
            ran, waited = sched()
            pending[id(self)] = {"read": time.monotonic(), "read_ran": ran, "read_waited": waited, "bytes": len(data)}
        original_received(self, data)

    Connection.data_received = data_received  # type: ignore[method-assign]

    original_answer = Dispatcher.answer

    async def answer(self: Dispatcher, link: Any, text: str | bytes) -> bytes | None:
        record = pending.get(id(link.socket)) if PROBE_PREFIX in link.station_id else None
        if record is not None:
            record["dispatch"] = time.monotonic()
            record["id"] = str(text[:40]).split('"')[1] if '"' in str(text[:40]) else ""
        out = await original_answer(self, link, text)
        if record is not None:
            record["dispatched"] = time.monotonic()
        return out

    Dispatcher.answer = answer  # type: ignore[method-assign]

    original_send = Connection.send

    async def send(self: Connection, message: Any, text: bool | None = None) -> None:
        await original_send(self, message, text=text)
        record = pending.pop(id(self), None) if traced(self) else None
        if record is not None:
            ran, waited = sched()
            record.update(written=time.monotonic(), written_ran=ran, written_waited=waited)
            frames.write(json.dumps(record) + "\n")

    Connection.send = send  # type: ignore[method-assign]

    def flush() -> None:
        for name, data in (("gateway-turns.f64", turns), ("gateway-gc.f64", gcs)):
            with open(folder / name, "ab") as out:
                data.tofile(out)
            del data[:]

    def flusher() -> None:
        while True:
            time.sleep(1.0)
            flush()  # array's tofile/del hold the GIL: consistent against the loop thread's extend

    threading.Thread(target=flusher, daemon=True, name="hoptrace-flush").start()
    if os.environ.get("HOPTRACE_GARBAGE"):  # what the collections find: one collection's garbage, by type
        threading.Thread(
            target=_garbage_census, args=(folder, float(os.environ["HOPTRACE_GARBAGE"])), daemon=True
        ).start()
    atexit.register(flush)


def _big_young(out: Any) -> None:
    """The young generation's largest containers (what a slow young collection traverses)."""
    young = gc.get_objects(generation=0)
    sizes = []
    for o in young:
        try:
            n = len(o) if isinstance(o, (list, dict, set, tuple, frozenset)) else 0
        except Exception:
            n = 0
        if n > 2000:
            sizes.append((n, type(o).__qualname__, repr(o)[:160]))
    sizes.sort(reverse=True)
    out.write(json.dumps({"young": len(young), "count": gc.get_count(), "big": sizes[:4]}) + "\n")


def _garbage_census(folder: Path, after_s: float) -> None:
    """After `after_s`, keep what the collections free (DEBUG_SAVEALL) for HOPTRACE_GARBAGE_S; count it by type."""
    import collections

    time.sleep(after_s)
    gc.set_debug(gc.DEBUG_SAVEALL)
    time.sleep(float(os.environ.get("HOPTRACE_GARBAGE_S", "10")))
    gc.set_debug(0)
    found = list(gc.garbage)
    gc.garbage.clear()
    kinds = collections.Counter(type(o).__qualname__ for o in found)
    funcs = collections.Counter(
        getattr(o, "__qualname__", "?") for o in found if type(o).__name__ in ("function", "cell", "method", "Task")
    )
    report = {"objects": len(found), "types": kinds.most_common(40), "functions": funcs.most_common(30)}
    (folder / "garbage.json").write_text(json.dumps(report, indent=1, default=str))
    del found


def _read_f64(path: Path, width: int) -> list[tuple[float, ...]]:
    data = array("d")
    if path.exists():
        data.frombytes(path.read_bytes())
    return [tuple(data[i : i + width]) for i in range(0, len(data) - width + 1, width)]


def _quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    values = sorted(values)
    return {
        "p50": round(values[len(values) // 2], 2),
        "p99": round(values[min(len(values) - 1, int(len(values) * 0.99))], 2),
        "max": round(values[-1], 2),
    }


def _waited_between(turns: list[tuple[float, ...]], start: float, end: float) -> float:
    """The gateway loop thread's wait for a core (ms) between two instants, from the turns' schedstat samples
    (the samples at the first turn ending after `start` and the first ending after `end`; ~a turn coarse)."""
    import bisect

    leaves = [t[1] for t in turns]
    i = bisect.bisect_left(leaves, start)
    j = bisect.bisect_left(leaves, end)
    if i >= len(turns) or j >= len(turns) or i == 0:
        return float("nan")
    return (turns[j][3] - turns[i - 1][3]) / 1e6


def analyse(folder: Path, slow_share: float = 0.05) -> dict[str, Any]:
    """Per hop: p50/p99 over every probe call, and the mean of each hop over the slowest `slow_share`."""
    import bisect

    client = {}
    for path in folder.glob("client-*.jsonl"):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            client[record["id"]] = record
    gateway: dict[str, list[dict[str, Any]]] = {}
    path = folder / "gateway-frames.jsonl"
    for line in path.read_text().splitlines() if path.exists() else []:
        record = json.loads(line)
        gateway.setdefault(record.get("id"), []).append(record)
    turns = _read_f64(folder / "gateway-turns.f64", 4)
    gcs = _read_f64(folder / "gateway-gc.f64", 4)
    enters = [t[0] for t in turns]
    calls = []
    for call_id, c in client.items():
        # ids repeat across the probe's processes (warm-up, timed part): the record read within the call
        g = next((r for r in gateway.get(call_id, []) if c["send"] <= r["read"] <= c["recv"]), None)
        if g is None or "dispatched" not in g:
            continue
        send, read, recv = c["send"], g["read"], c["recv"]
        # The turn during which the frame arrived: was the loop asleep in epoll (woken late) or busy?
        k = bisect.bisect_right(enters, send) - 1
        asleep = k >= 0 and turns[k][1] >= send
        wake = turns[k][1] - send if asleep else 0.0  # from the frame's arrival to epoll's return
        busy = 0.0 if asleep else max(0.0, (turns[k + 1][0] if k + 1 < len(turns) else read) - send)
        # the turn that read it: from epoll's return to our callback (the callbacks before it)
        m = bisect.bisect_right(enters, read) - 1
        before_ours = read - turns[m][1] if m >= 0 else 0.0
        gc_ms = sum(
            max(0.0, min(end, recv) - max(start, send)) for start, end, *_ in gcs if end > send and start < recv
        )
        calls.append(
            {
                "id": call_id,
                "total": 1000 * (recv - send),
                "to_loop_read": 1000 * (read - send),
                "loop_asleep_woken_late": 1000 * wake,
                "loop_busy_when_sent": 1000 * busy,
                "callbacks_before_ours": 1000 * before_ours,
                "read_to_dispatch": 1000 * (g["dispatch"] - read),
                "dispatch": 1000 * (g["dispatched"] - g["dispatch"]),
                "dispatched_to_written": 1000 * (g["written"] - g["dispatched"]),
                "written_to_client": 1000 * (recv - g["written"]),
                "gateway_waited_for_core": _waited_between(turns, send, g["written"]),
                "gateway_waited_read_to_written": (g["written_waited"] - g["read_waited"]) / 1e6,
                "client_waited_for_core": c["client_waited_ns"] / 1e6,
                "gc": 1000 * gc_ms,
            }
        )
    calls.sort(key=lambda r: r["total"])
    hops = [k for k in calls[0] if k != "id"] if calls else []
    slow = calls[int(len(calls) * (1 - slow_share)) :] if calls else []
    turn_lengths = [1000 * (turns[i + 1][0] - turns[i][1]) for i in range(len(turns) - 1)]
    return {
        "calls": len(calls),
        "per_hop_ms": {h: _quantiles([r[h] for r in calls]) for h in hops},
        f"slowest_{int(slow_share * 100)}pct_mean_ms": {h: round(sum(r[h] for r in slow) / len(slow), 2) for h in hops}
        if slow
        else {},
        "slowest_calls": [{k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()} for r in calls[-5:]],
        "gateway_loop_turn_ms": _quantiles(turn_lengths),
        "gateway_gc": {
            f"gen{gen}": _quantiles([1000 * (e - s) for s, e, g, _ in gcs if g == gen])
            | {"cpu_max": round(1000 * max((c for _, _, g, c in gcs if g == gen), default=0.0), 2)}
            | {"count": sum(g == gen for _, _, g, _ in gcs)}
            for gen in (0, 1, 2)
        },
    }


if __name__ == "__main__":
    install_gateway(Path(sys.argv[1]))
    sys.argv = ["voltline_gateway"]
    runpy.run_module("voltline_gateway", run_name="__main__", alter_sys=True)

"""The whole pipeline under load: every service (gateway, auth, session, billing, diagnostics, analytics) as
separate processes, as `make run` starts them (bulk consumers lowered once ready, the gateway's flow control on unless
`--flow off`), on `--broker kafka` (the `--kafka` given) or `--broker tansu` (a private embedded broker).

1. Closed loop: `--stations` simulated stations send the realistic mix through the gateway as fast as it
   answers, for `--duration` seconds. Meanwhile every second every consumer group's lag is read from the
   broker (committed offsets against the log end, the gateway's own reading: ADR 0027) with the gateway's
   current hold, and a probe station measures the time from its MeterValues frame to the session API
   showing the new energy. After the load stops: how long until every group's lag is zero.
2. Authorize latency at a fixed background rate (`--background-rate`) with every service running.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from voltline_devinfra._proc import (
    autogroup_nice,
    free_port,
    lower_priority,
    sched_policy,
    sched_slice_us,
    set_autogroup_nice,
    set_sched_slice,
)
from voltline_devinfra.run import BULK, bulk_priority, service_env
from websockets.asyncio.client import connect

from bench.gateway.__main__ import run_clients, split
from bench.gateway.procs import Procs, cpu_seconds, listener_pid, register, schedstat, wait_ready
from bench.pipeline.ingest import new_database

PY = sys.executable
TOKEN = "bench-admin-token-0123456789"
CONSUMERS = {
    "auth": ("voltline_auth", 8001),
    "session": ("voltline_session", 8002),
    "billing": ("voltline_billing", 8003),
    "diagnostics": ("voltline_diagnostics", 8004),
    "analytics": ("voltline_analytics", 8005),
}
# The topics station traffic feeds, directly and one hop on (what the gateway's flow control watches).
WATCHED = ("station_events", "sessions", "billing", "diagnostics")


class BrokerLag:
    """Every consumer group's lag as the broker sees it, read from a thread with its own event loop."""

    def __init__(self, kafka: str, prefix: str) -> None:
        from voltline_bus import BusConfig
        from voltline_events import Topics
        from voltline_gateway.adapters.lag_watch import ConsumerLag

        topics = Topics(prefix)
        config = BusConfig(bootstrap=kafka, client_id="bench-lag", idempotence=False)
        self._source = ConsumerLag(
            config, [getattr(topics, t) for t in WATCHED], group_prefix=prefix, ignored=(), discover_every_s=2.0
        )
        self._prefix = prefix
        self._loop = asyncio.new_event_loop()

    def read(self) -> dict[str, int] | None:
        try:
            lags = self._loop.run_until_complete(asyncio.wait_for(self._source.read(), 10))
        except Exception:  # the broker did not answer in time: no sample
            self._loop.run_until_complete(self._source.close())
            return None
        return {group.removeprefix(self._prefix).removeprefix("voltline-"): lag for group, (lag, _) in lags.items()}

    def close(self) -> None:
        self._loop.run_until_complete(self._source.close())
        self._loop.close()


def _gateway_flow(gateway: str) -> dict[str, float]:
    """The gateway's current hold and the answers it held so far (ADR 0027)."""
    with urllib.request.urlopen(f"{gateway}/metrics", timeout=30) as response:
        text = response.read().decode()
    out = {"hold_s": 0.0, "held": 0.0}
    for line in text.splitlines():
        if line.startswith("voltline_gateway_flow_hold_seconds "):
            out["hold_s"] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("voltline_gateway_flow_held_total{"):
            out["held"] += float(line.rsplit(" ", 1)[1])
    return out


def _get_json(url: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def _lags(bases: dict[str, str]) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for name, base in bases.items():
        try:
            details = _get_json(f"{base}/readyz").get("details", {}).get("consumer_lag")
            if not isinstance(details, dict) or not all(isinstance(v, dict) for v in details.values()):
                out[name] = None  # the lag could not be read in time
                continue
            out[name] = sum(sum(v.values()) for v in details.values())
        except (OSError, ValueError):
            out[name] = None
    return out


def _consumed(bases: dict[str, str]) -> dict[str, float]:
    """Records each service's consumers received so far (voltline_bus_messages_consumed_total)."""
    out: dict[str, float] = {}
    for name, base in bases.items():
        text = ""
        for _ in range(3):  # a starved process may take seconds to answer
            try:
                with urllib.request.urlopen(f"{base}/metrics", timeout=30) as response:
                    text = response.read().decode()
                break
            except OSError:
                continue
        out[name] = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("voltline_bus_messages_consumed_total{")
        )
    return out


class Stack:
    def __init__(self, procs: Procs, args: argparse.Namespace, folder: Path) -> None:
        self.procs, self.args, self.folder = procs, args, folder
        self.prefix = f"bench-{secrets.token_hex(3)}."
        self.bases: dict[str, str] = {}
        self.pids: dict[str, int] = {}
        self.ocpp = ""
        self.idle_cpu_s_per_min: dict[str, float] | None = None  # the idle part's, when it ran
        self.gateway = ""
        self.tokens_provisioned = False

    def env(self, name: str, port: int) -> dict[str, str]:
        env = {
            "VOLTLINE_KAFKA_BOOTSTRAP": self.args.kafka,
            "VOLTLINE_KAFKA_IDEMPOTENCE": "false",
            "VOLTLINE_TOPIC_PREFIX": self.prefix,
            "VOLTLINE_ADMIN_TOKEN": TOKEN,
            "VOLTLINE_INSTANCE_ID": f"bench-{name}",
            "VOLTLINE_HTTP_PORT": str(port),
            "VOLTLINE_LOG_LEVEL": "WARNING",
            "VOLTLINE_UNKNOWN_STATION_POLICY": "pending",
            "VOLTLINE_PAYMENT_RETRY_INTERVAL_S": "0",
        }
        if self.args.broker == "tansu":
            env["VOLTLINE_KAFKA_SESSION_TIMEOUT_MS"] = "2000"  # as make run starts them on tansu
        env.update(
            service_env(embedded=self.args.broker == "tansu").get(name, {})
        )  # as `make run` starts them (nice, long polls, flow control)
        env["VOLTLINE_FLOW_CONTROL"] = "true" if self.args.flow == "on" else "false"
        if name in BULK and self.args.bulk_at_start:  # make run before round 13: niced from the start
            env["VOLTLINE_PROCESS_NICE"] = str(self.bulk_priority()[0])
        if "VOLTLINE_SCHED_SLICE_US" in env and self.args.request_slice_us is not None:
            env["VOLTLINE_SCHED_SLICE_US"] = str(self.args.request_slice_us)
        if name != "gateway":
            database = self.args.e2e_database
            env["VOLTLINE_DATABASE_URL"] = (
                new_database(self.args.pg)
                if database == "postgresql"
                else f"sqlite+aiosqlite:///{self.folder}/{name}.db"
            )
        return env

    def bulk_priority(self) -> tuple[int, str]:
        """The bulk consumers' (autogroup nice, thread policy): make run's unless --bulk-nice / --bulk-policy."""
        nice, policy = bulk_priority()["session"]
        if self.args.bulk_nice is not None:
            nice = self.args.bulk_nice
        if self.args.bulk_policy is not None:
            policy = self.args.bulk_policy
        return nice, "normal" if self.args.bulk_at_start else policy

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> Any:
        """As `make run` starts a service: in our session, so our autogroup (docs/adr/0046), with the request
        path's scheduler slice (libs/devinfra `_proc.spawn`); `--own-sessions`: each in a session of its own, its
        autogroup at the service's nice value (make run before ADR 0046)."""
        slice_us = int(env.get("VOLTLINE_SCHED_SLICE_US", "0") or 0)
        if self.args.own_sessions:
            proc = self.procs.spawn(name, args, env, own_session=True)
            set_autogroup_nice(proc.pid, int(env.get("VOLTLINE_PROCESS_NICE", "0")))
        else:
            proc = self.procs.spawn(name, args, env)
        if slice_us > 0:  # before the interpreter starts any thread: they inherit it
            set_sched_slice(proc.pid, slice_us)
        return proc

    def lower(self, name: str) -> None:
        """As make run's Stack lowers a bulk consumer once it is ready (and, `--own-sessions`, its autogroup)."""
        nice, policy = self.bulk_priority()
        if self.args.own_sessions:
            set_autogroup_nice(self.pids[name], nice)
        lower_priority(self.pids[name], nice=nice, policy=policy)

    def start(self, station_ids: list[str]) -> None:
        asyncio.run(register(self.args.kafka, self.prefix, station_ids))
        for name, (module, _) in CONSUMERS.items():
            port = free_port()
            proc = self.spawn(name, [PY, "-m", module], self.env(name, port))
            self.bases[name], self.pids[name] = f"http://127.0.0.1:{port}", proc.pid
        for name, base in self.bases.items():
            try:
                wait_ready(base, timeout=300)
            except TimeoutError:
                proc = next(p for p in self.procs.running if p.pid == self.pids[name])
                tail = Path(proc.log_path).read_text(errors="replace")[-3000:]  # type: ignore[attr-defined]
                raise TimeoutError(f"{name} not ready; its log ends:\n{tail}") from None
            if name in BULK and not self.args.bulk_at_start:  # as make run's Stack: lowered once ready
                self.lower(name)
        http, ocpp = free_port(), free_port()
        env = {
            **self.env("gateway", http),
            "VOLTLINE_OCPP_PORT": str(ocpp),
            "VOLTLINE_FRAMES_PER_SECOND": "10000",
            "VOLTLINE_FRAME_BURST": "10000",
            **dict(item.split("=", 1) for item in self.args.gateway_env),  # --gateway-env NAME=VALUE
        }
        module = ["bench.pipeline.hoptrace", self.args.hop_trace] if self.args.hop_trace else ["voltline_gateway"]
        gateway = self.spawn("gateway", [PY, "-m", *module], env)
        if self.args.gateway_nice:  # below 0 needs root: what a core of its own (a CPU request) would give it
            os.setpriority(os.PRIO_PROCESS, gateway.pid, self.args.gateway_nice)
        wait_ready(f"http://127.0.0.1:{http}", timeout=300)
        self.pids["gateway"], self.ocpp = gateway.pid, f"ws://127.0.0.1:{ocpp}/ocpp"
        print(f"gateway pid {gateway.pid}", flush=True)  # for a profiler (py-spy record -p PID)
        self.gateway = f"http://127.0.0.1:{http}"
        broker = listener_pid(int(self.args.kafka.split(",")[0].rsplit(":", 1)[1]))
        if broker is not None:  # a shared Kafka's CPU includes whatever else uses it
            self.pids["broker"] = broker


async def probe(ocpp: str, session_api: str, station_id: str, stop: threading.Event) -> list[float]:
    """Frame-to-API latency: a 1.6 transaction whose every MeterValues raises the register by 1 kWh; the
    time from sending the frame until GET /api/v1/sessions shows that energy."""
    samples: list[float] = []
    async with connect(f"{ocpp}/{station_id}", subprotocols=["ocpp1.6"], ping_interval=None) as ws:  # type: ignore[list-item]

        async def call(action: str, payload: dict[str, Any]) -> Any:
            await ws.send(orjson.dumps([2, secrets.token_hex(4), action, payload]).decode())
            return orjson.loads(await ws.recv())

        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        started = await call(
            "StartTransaction", {"connectorId": 1, "idTag": "PROBE", "meterStart": 0, "timestamp": now}
        )
        tx = started[2]["transactionId"]
        energy = 0
        while not stop.is_set():
            energy += 1000
            stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            sample = {"timestamp": stamp, "sampledValue": [{"value": str(energy), "unit": "Wh"}]}
            sent = time.perf_counter()
            await call("MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [sample]})
            deadline = sent + 120
            while time.perf_counter() < deadline and not stop.is_set():
                try:
                    items = await asyncio.to_thread(
                        _get_json, f"{session_api}/api/v1/sessions?station_id={station_id}&status=active"
                    )
                except (OSError, ValueError):  # the API did not answer in time: ask again
                    continue
                if any(item.get("energy_wh") == energy for item in items.get("items", [])):
                    samples.append(time.perf_counter() - sent)
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(1.0)
    return samples


def closed_loop(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    provision_tokens(stack)  # each station starts a transaction with BENCH-0 (bench.gateway.payloads.TOKEN)
    stop = threading.Event()
    probe_samples: list[float] = []

    def run_probe() -> None:
        probe_samples.extend(asyncio.run(probe(stack.ocpp, stack.bases["session"], "PROBE-000001", stop)))

    timeline: list[dict[str, Any]] = []
    started = time.monotonic()
    lag_reader = BrokerLag(args.kafka, stack.prefix)
    drained = threading.Event()
    load_over = threading.Event()
    drained_at: list[float] = []

    def watch() -> None:
        while not stop.is_set():
            lags = lag_reader.read()
            now = time.monotonic()
            row: dict[str, Any] = {"t": round(now - started, 1), **(lags or {})}
            try:
                row["gw_hold_s"] = _gateway_flow(stack.gateway)["hold_s"]
            except OSError:
                pass
            row["load"] = round(os.getloadavg()[0], 1)
            timeline.append(row)
            if load_over.is_set() and lags and all(v == 0 for v in lags.values()):
                drained_at.append(now)
                drained.set()
                return
            time.sleep(max(0.0, 1.0 - (time.monotonic() - now)) if not load_over.is_set() else 0.2)

    consumed0, cpu0 = _consumed(stack.bases), {n: cpu_seconds(p) for n, p in stack.pids.items()}
    flow0 = _gateway_flow(stack.gateway)
    threads = [threading.Thread(target=run_probe, daemon=True), threading.Thread(target=watch, daemon=True)]
    for thread in threads:
        thread.start()
    parts = [
        {"url": stack.ocpp, "indexes": part, "prefix": "MIX-", "duration": args.duration, "warmup": 0}
        for part in split(args.stations, args.clients)
    ]
    results = run_clients(stack.procs, "mix", parts)
    load_stopped = time.monotonic()
    load_over.set()
    consumed1, cpu1 = _consumed(stack.bases), {n: cpu_seconds(p) for n, p in stack.pids.items()}
    flow1 = _gateway_flow(stack.gateway)
    load_s = load_stopped - started
    drained.wait(args.drain_limit)
    drained_after = drained_at[0] - load_stopped if drained_at else None
    stop.set()
    for thread in threads:
        thread.join(timeout=150)
    lag_reader.close()
    consumed2 = _consumed(stack.bases)
    cpu = {n: round(cpu_seconds(p) - cpu0[n], 1) for n, p in stack.pids.items()}
    cpu_load = {n: round(cpu1[n] - cpu0[n], 1) for n in cpu1}
    trips = sum(r["round_trips"] for r in results)
    probe_ms = sorted(1000 * s for s in probe_samples)
    return {
        "stations": args.stations,
        "load_s": round(load_s, 1),
        "flow_control": args.flow,
        "broker": args.broker,
        "gateway_round_trips_per_s": round(trips / args.duration),
        "gateway_round_trips_per_cpu_s": round(trips / cpu_load["gateway"]) if cpu_load["gateway"] else None,
        "station_errors": sum(r["errors"] for r in results),
        "client_cpu_us_per_message": [r.get("client_cpu_us_per_message") for r in results],
        "answers_held": int(flow1["held"] - flow0["held"]),
        "consumed_per_cpu_s_during_load": {
            n: round((consumed1[n] - consumed0[n]) / cpu_load[n]) if cpu_load[n] else None for n in consumed0
        },
        "consumed_per_s_during_load": {n: round((consumed1[n] - consumed0[n]) / load_s) for n in consumed0},
        # The load and the drain: every consumer's CPU per event for all it took in (the session's target).
        "consumed_per_cpu_s_overall": {
            n: round((consumed2[n] - consumed0[n]) / cpu[n]) if cpu.get(n) else None for n in consumed0
        },
        "consumed_per_s_overall": {
            n: round((consumed2[n] - consumed0[n]) / (time.monotonic() - started)) for n in consumed0
        },
        "lag_zero_after_load_stopped_s": None if drained_after is None else round(drained_after, 1),
        # Per consumer group: seconds from the load's stop until its lag was first read as zero (None: not
        # within --drain-limit). The target: every one within 5 s.
        "drained_after_s": _drain_times(timeline, load_s),
        "lag_at_load_stop": _last_lags(timeline, load_stopped - started),
        "lag_max_during_load": {
            k: max((row.get(k) or 0) for row in timeline if row["t"] <= load_s)
            for k in {k for row in timeline for k in row if k not in ("t", "load", "gw_hold_s")}
        },
        "lag_timeline": timeline[:: max(1, len(timeline) // 20)],
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "frame_to_session_api_ms": {
            "count": len(probe_ms),
            "p50": round(statistics.median(probe_ms)) if probe_ms else None,
            "max": round(probe_ms[-1]) if probe_ms else None,
        },
        "cpu_s": cpu,
        "cpu_s_during_load": cpu_load,
    }


def _drain_times(timeline: list[dict[str, Any]], stopped_at: float) -> dict[str, float | None]:
    groups = {k for row in timeline for k in row if k not in ("t", "load", "gw_hold_s")}
    after = [row for row in timeline if row["t"] >= stopped_at]
    return {
        group: next((round(row["t"] - stopped_at, 1) for row in after if row.get(group) == 0), None)
        for group in sorted(groups)
    }


def _last_lags(timeline: list[dict[str, Any]], at: float) -> dict[str, Any]:
    before = [row for row in timeline if row["t"] <= at]
    return before[-1] if before else {}


def _stage_buckets(bases: list[str]) -> dict[str, dict[float, float]]:
    """Cumulative bucket counts of voltline_bus_request_stage_seconds, per stage, summed over `bases`."""
    out: dict[str, dict[float, float]] = {}
    for base in bases:
        with urllib.request.urlopen(f"{base}/metrics", timeout=30) as response:
            text = response.read().decode()
        for line in text.splitlines():
            if line.startswith("voltline_bus_request_stage_seconds_bucket{"):
                labels, value = line.rsplit(" ", 1)
                stage = labels.split('stage="', 1)[1].split('"', 1)[0]
                le = labels.split('le="', 1)[1].split('"', 1)[0]
                bucket = out.setdefault(stage, {})
                bound = float("inf") if le == "+Inf" else float(le)
                bucket[bound] = bucket.get(bound, 0.0) + float(value)
    return out


def stage_breakdown(before: dict[str, dict[float, float]], after: dict[str, dict[float, float]]) -> dict[str, Any]:
    """Per stage of a request/reply round trip: how many, and the bucket bound under which half / 99% fell."""
    out: dict[str, Any] = {}
    for stage, buckets in after.items():
        counts = {le: n - before.get(stage, {}).get(le, 0.0) for le, n in sorted(buckets.items())}
        total = counts.get(float("inf"), 0.0)
        if not total:
            continue

        def quantile(q: float, counts: dict[float, float] = counts, total: float = total) -> str:
            bound = next(le for le, n in counts.items() if n >= q * total)
            return "+Inf" if bound == float("inf") else f"<={bound * 1000:g}ms"

        out[stage] = {"count": int(total), "p50": quantile(0.5), "p99": quantile(0.99)}
    return out


def _decision_paths(gateway: str) -> dict[str, float]:
    """Authorize answers so far per outcome (voltline_gateway_decision_seconds_count)."""
    with urllib.request.urlopen(f"{gateway}/metrics", timeout=30) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("voltline_gateway_decision_seconds_count{") and "auth.authorization.requested" in line:
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            out[outcome] = out.get(outcome, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def provision_tokens(stack: Stack) -> None:
    """BENCH-0..49 in the auth service: the Authorize part's tokens and the loop's transactions' (once)."""
    if stack.tokens_provisioned:
        return
    for n in range(50):
        body = json.dumps({"id_token": f"BENCH-{n}", "type": "ISO14443"}).encode()
        request = urllib.request.Request(
            f"{stack.bases['auth']}/api/v1/id-tokens",
            data=body,
            headers={"Authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).close()
    stack.tokens_provisioned = True


def authorize_latency(stack: Stack, args: argparse.Namespace, lat_ids: list[str]) -> dict[str, Any]:
    provision_tokens(stack)
    auth_stations = 10
    common = {
        "url": stack.ocpp,
        "prefix": "LAT-",
        "auth_rate": args.auth_rate,
        "bg_rate": args.background_rate,
        "raw": not args.websockets_client,
    }
    warm = {**common, "auth": [0, auth_stations, 1], "background": [0, 0, 1], "auth_rate": 20, "duration": 5}
    run_clients(stack.procs, "latency", [warm])
    # The background stations start their transactions (asked of auth) and settle during the warm-up, on the
    # connections the timed window then measures: the window is the steady state, not 1,000 starts at once.
    warmup = args.background_warmup
    timed = {"duration": args.duration, "start_at": time.time() + 10 + warmup, "warmup": warmup}
    probe_part = {**common, **timed, "auth": [0, auth_stations, 1], "background": [0, 0, 1]}
    if args.hop_trace:  # bench.pipeline.hoptrace: each probe call's hops, joined with the gateway's records
        probe_part["trace"] = str(Path(args.hop_trace) / "client-0.jsonl")
    load_part = {**common, **timed, "auth": [0, 0, 1], "background": [auth_stations, len(lat_ids), 1]}
    stage_sources = [stack.gateway, stack.bases["auth"]]
    stages_before = _stage_buckets(stage_sources)
    paths_before, cpu_before = _decision_paths(stack.gateway), {n: cpu_seconds(p) for n, p in stack.pids.items()}
    flow_before = _gateway_flow(stack.gateway)
    sched_before = schedstat(stack.pids["gateway"])
    window: dict[str, dict[str, float]] = {}
    sampler = threading.Thread(target=_cpu_window, args=(stack.pids, timed["start_at"], args.duration, window))
    sampler.start()
    result, background = run_clients(stack.procs, "latency", [probe_part, load_part])
    sampler.join()
    ran, waited, slices = (b - a for a, b in zip(sched_before, schedstat(stack.pids["gateway"]), strict=True))
    stages = stage_breakdown(stages_before, _stage_buckets(stage_sources))
    paths = {k: int(v - paths_before.get(k, 0.0)) for k, v in _decision_paths(stack.gateway).items()}
    flow_after = _gateway_flow(stack.gateway)
    gateway_env = stack.env("gateway", 0)
    hops = None
    if args.hop_trace:
        from bench.pipeline.hoptrace import analyse

        time.sleep(1.5)  # the gateway's trace is flushed every second
        hops = analyse(Path(args.hop_trace))
    return {
        "hops": hops,
        "authorize_p50_ms": round(result.get("p50_ms", -1), 1),
        "authorize_p99_ms": round(result.get("p99_ms", -1), 1),
        "authorize_count": result["authorize_count"],
        "background_msgs_per_s": round(background["background_per_s"]),
        "background_errors": background.get("background_errors"),
        # Sends a background station skipped because its previous call was not answered in time (held by flow
        # control or slow): the background falls short of the rate asked for these.
        "background_skipped": background.get("background_skipped"),
        # Flow control (ADR 0027) holds answers to deferrable calls while a consumer lags: with --flow on, a
        # background above what the consumers apply is slowed down here (--flow off shows the rate asked).
        "flow": {"answers_held": int(flow_after["held"] - flow_before["held"]), "hold_s_at_end": flow_after["hold_s"]},
        # The load generators' own CPU (they share the cores with what they measure).
        "client_cpu_s": {"authorize": result.get("client_cpu_s"), "background": background.get("client_cpu_s")},
        "lag_after": _lags(stack.bases),
        # request_publish, reply_delivery: the gateway; until_answered, reply_publish: auth (and the session
        # service's own requests, if any). until_answered includes request_publish and the auth consumer's fetch.
        "request_stages": stages,
        # How the gateway's Authorize answers came: "local" from auth's published decisions (ADR 0015),
        # "answered" by request/reply, "timeout" the fallback.
        "authorize_paths": paths,
        "cpu_s": {n: round(cpu_seconds(p) - cpu_before[n], 1) for n, p in stack.pids.items()},
        # Each process's CPU per background message during the timed window (the budget: 2 cores / 2,000
        # msg/s = 1,000 us for everything); `net_of_idle` takes away what the process costs doing nothing.
        "cpu_us_per_background_msg": cpu_budget(window, background, result, args.duration, stack.idle_cpu_s_per_min),
        # The gateway's event loop thread: time on a core, time runnable but waiting for one (the CPU queue).
        "gateway_loop_thread": {
            "ran_s": round(ran, 2),
            "waited_for_a_core_s": round(waited, 2),
            "mean_wait_per_slice_ms": round(1000 * waited / max(1, slices), 2),
        },
        "gateway_msgs_per_cpu_s": round(
            (background["background_per_s"] * args.duration + result["authorize_count"])
            / max(0.01, cpu_seconds(stack.pids["gateway"]) - cpu_before["gateway"])
        ),
        "load_average": round(os.getloadavg()[0], 1),
        "gateway_nice": args.gateway_nice,
        "bulk_priority": {
            "lowered": "at start" if args.bulk_at_start else "once ready",
            **{n: {"autogroup_nice": autogroup_nice(p), "policy": sched_policy(p)} for n, p in stack.pids.items()},
        },
        "sched_slice_us": {n: sched_slice_us(p) for n, p in stack.pids.items()},
        "tail_fetch_wait_ms": int(gateway_env.get("VOLTLINE_TAIL_FETCH_WAIT_MS", "100")),
        "request_fetch_wait_ms": int(gateway_env.get("VOLTLINE_KAFKA_REQUEST_FETCH_WAIT_MS", "10")),
    }


def _cpu_window(pids: dict[str, int], start_at: float, duration: float, out: dict[str, dict[str, float]]) -> None:
    """Every process's CPU seconds at the start and the end of the load generators' timed window."""

    def sample() -> dict[str, float]:
        cpu: dict[str, float] = {}
        for name, pid in pids.items():
            try:
                cpu[name] = cpu_seconds(pid)
            except OSError:  # the process is gone
                continue
        return cpu

    time.sleep(max(0.0, start_at - time.time()))
    out["start"] = sample()
    time.sleep(duration)
    out["end"] = sample()


def cpu_budget(
    window: dict[str, dict[str, float]],
    background: dict[str, Any],
    probe: dict[str, Any],
    duration: float,
    idle_per_min: dict[str, float] | None,
) -> dict[str, Any]:
    """CPU microseconds per background message of each process (and the load generators), with the total."""
    messages = max(1.0, background["background_per_s"] * duration + probe["authorize_count"])
    cpu = {n: window["end"][n] - window["start"][n] for n in window.get("end", {}) if n in window.get("start", {})}
    cpu["load_background"] = background.get("client_cpu_s") or 0.0
    cpu["load_authorize"] = probe.get("client_cpu_s") or 0.0
    per_msg = {n: round(1e6 * c / messages) for n, c in sorted(cpu.items(), key=lambda kv: -kv[1])}
    out: dict[str, Any] = {"messages": int(messages), "per_process": per_msg, "total": sum(per_msg.values())}
    if idle_per_min:
        net = {
            n: round(1e6 * max(0.0, c - idle_per_min.get(n, 0.0) * duration / 60) / messages) for n, c in cpu.items()
        }
        out["net_of_idle"] = dict(sorted(net.items(), key=lambda kv: -kv[1]))
        out["net_total"] = sum(net.values())
    return out


def print_budget(budget: dict[str, Any]) -> None:
    """The table, readable: process, CPU-us per background message (net of idle when measured)."""
    net = budget.get("net_of_idle", {})
    print(f"CPU per background message ({budget['messages']} messages; budget 1,000 us at 2,000 msg/s on 2 cores)")
    for name, us in budget["per_process"].items():
        print(f"  {name:<16} {us:>6} us" + (f"  ({net.get(name, 0)} us net of idle)" if net else ""))
    print(f"  {'total':<16} {budget['total']:>6} us" + (f"  ({budget['net_total']} us net)" if net else ""), flush=True)


def print_hops(hops: dict[str, Any]) -> None:
    """The probe calls' hops (bench.pipeline.hoptrace): p50 / p99 over all, the mean over the slowest 5%."""
    slow = hops.get("slowest_5pct_mean_ms", {})
    print(f"Authorize hops over {hops['calls']} calls, ms: p50 / p99 / max; mean of the slowest 5%")
    for hop, q in hops["per_hop_ms"].items():
        print(f"  {hop:<32} {q.get('p50', 0):>7} {q.get('p99', 0):>7} {q.get('max', 0):>7}   {slow.get(hop, 0):>7}")
    print(f"  gateway loop turn ms {hops['gateway_loop_turn_ms']}; GC {hops['gateway_gc']}", flush=True)


def idle(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    """What each process costs doing nothing (its readers' empty fetches, timers): CPU seconds per minute."""
    cpu0 = {n: cpu_seconds(p) for n, p in stack.pids.items()}
    started = time.monotonic()
    time.sleep(args.duration)
    elapsed = time.monotonic() - started
    return {
        "cpu_s_per_min": {n: round(60 * (cpu_seconds(p) - cpu0[n]) / elapsed, 2) for n, p in stack.pids.items()},
        "load_average": round(os.getloadavg()[0], 1),
        "tail_fetch_wait_ms": int(stack.env("gateway", 0).get("VOLTLINE_TAIL_FETCH_WAIT_MS", "100")),
    }


def run_e2e(procs: Procs, args: argparse.Namespace) -> dict[str, Any]:
    mix_ids = [f"MIX-{i:06d}" for i in range(args.stations)]
    lat_ids = [f"LAT-{i:06d}" for i in range(10 + args.background_stations)]
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as folder:
        stack = Stack(procs, args, Path(folder))
        stack.start([*mix_ids, *lat_ids, "PROBE-000001"])
        out: dict[str, Any] = {"database": args.e2e_database}
        if "idle" in args.parts:
            print(f"idle: every service running, no station traffic, for {args.duration}s", flush=True)
            out["idle"] = idle(stack, args)
            stack.idle_cpu_s_per_min = out["idle"]["cpu_s_per_min"]
            print(json.dumps(out["idle"]), flush=True)
        if "loop" in args.parts:
            print(f"closed loop: {args.stations} stations for {args.duration}s, every service running", flush=True)
            out["closed_loop"] = closed_loop(stack, args)
            print(json.dumps(out["closed_loop"]), flush=True)
        if "authorize" in args.parts:
            print(f"Authorize at {args.auth_rate}/s with {args.background_rate} msg/s background", flush=True)
            out["authorize"] = authorize_latency(stack, args, lat_ids)
            part = out["authorize"]
            print(
                f"{args.broker}: background {part['background_msgs_per_s']} msg/s reached of {args.background_rate:g} "
                f"asked ({part['background_skipped']} sends skipped); Authorize p50 {part['authorize_p50_ms']} / "
                f"p99 {part['authorize_p99_ms']} ms over {part['authorize_count']} calls; load {part['load_average']}; "
                f"the gateway's loop waited {part['gateway_loop_thread']['waited_for_a_core_s']} s for a core; "
                f"bulk consumers {part['bulk_priority']['lowered']}: {part['bulk_priority']['session']}",
                flush=True,
            )
            print_budget(part["cpu_us_per_background_msg"])
            if part.get("hops"):
                print_hops(part["hops"])
            held = out["authorize"]["flow"]["answers_held"]
            if held:
                print(
                    f"flow control held {held} answers: the background was slowed to what the consumers apply "
                    "(--flow off offers the rate asked for)",
                    flush=True,
                )
        return out

"""Benchmark of the gateway: `uv run python -m bench.gateway [--stations 1000 --idle 10000 ...]`.

Everything runs as separate processes on this machine: Apache Kafka (started here unless --kafka is given),
the gateway (`python -m voltline_gateway`), the simulated stations (bench.gateway.load, in --clients
processes), a bare websockets echo server for the baseline, and the auth service (the real one for the
Authorize latency; an instant stand-in where only the gateway is measured). Prints the figures at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from voltline_devinfra._proc import free_port

from bench.gateway.load import password_of
from bench.gateway.procs import Procs, cpu_seconds, machine, register, rss_kib, wait_line, wait_ready, warm_kafka

PY = sys.executable
TOKEN = "bench-admin-token-0123456789"


def _password_of(station_id: str) -> str:
    prefix, _, index = station_id.rpartition("-")
    return password_of(prefix + "-", int(index))


def split(count: int, parts: int) -> list[list[int]]:
    """Stations 0..count-1 dealt to `parts` processes, as range() arguments."""
    return [[i, count, parts] for i in range(parts)]


def run_clients(procs: Procs, mode: str, parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    clients = [
        procs.spawn(f"load-{mode}-{n}", [PY, "-m", "bench.gateway.load", mode, json.dumps(args)])
        for n, args in enumerate(parts)
    ]
    results = [json.loads(wait_line(c, "{", timeout=900)) for c in clients]
    for client in clients:
        client.wait(timeout=120)
        procs.running.remove(client)
    return results


class Bench:
    def __init__(self, args: argparse.Namespace, bootstrap: str, procs: Procs) -> None:
        self.args, self.bootstrap, self.procs = args, bootstrap, procs
        self.prefix = f"bench-{secrets.token_hex(3)}."
        self.results: dict[str, Any] = {}

    def gateway(self) -> tuple[subprocess.Popen[bytes], str, str]:
        http, ocpp = free_port(), free_port()
        env = {
            "VOLTLINE_KAFKA_BOOTSTRAP": self.bootstrap,
            "VOLTLINE_TOPIC_PREFIX": self.prefix,
            "VOLTLINE_ADMIN_TOKEN": TOKEN,
            "VOLTLINE_INSTANCE_ID": "bench-gw",
            "VOLTLINE_HTTP_PORT": str(http),
            "VOLTLINE_OCPP_PORT": str(ocpp),
            "VOLTLINE_LOG_LEVEL": "WARNING",
            "VOLTLINE_FRAMES_PER_SECOND": "10000",
            "VOLTLINE_FRAME_BURST": "10000",
        }
        proc = self.procs.spawn("gateway", [PY, "-m", "voltline_gateway"], env)
        wait_ready(f"http://127.0.0.1:{http}")
        return proc, f"ws://127.0.0.1:{ocpp}/ocpp", f"http://127.0.0.1:{http}"

    def mix(self, url: str, prefix: str, server: subprocess.Popen[bytes]) -> tuple[float, float]:
        """Round trips per second, and the server's CPU microseconds per round trip."""
        cpu0 = cpu_seconds(server.pid)
        parts = [
            {"url": url, "indexes": part, "prefix": prefix, "duration": self.args.duration, "warmup": 3}
            for part in split(self.args.stations, self.args.clients)
        ]
        results = run_clients(self.procs, "mix", parts)
        errors = sum(r["errors"] for r in results)
        if errors:
            print(f"  ! {errors} round trips were errors", flush=True)
        trips = sum(r["round_trips"] for r in results)
        # The server's CPU over the whole run (connects and warm-up included) per counted round trip: an upper bound.
        return trips / self.args.duration, 1e6 * (cpu_seconds(server.pid) - cpu0) / max(trips, 1)

    def run(self) -> dict[str, Any]:
        a, procs = self.args, self.procs
        mix_ids = [f"MIX-{i:06d}" for i in range(a.stations)]
        idle_ids = [f"IDLE-{i:06d}" for i in range(a.idle)]
        lat_ids = [f"LAT-{i:06d}" for i in range(a.auth_stations + a.background_stations)]
        asyncio.run(register(self.bootstrap, self.prefix, mix_ids + idle_ids))

        parts = set(a.only or ["mix", "storm", "password-storm", "flood", "latency"])
        if "mix" in parts:
            print(f"baseline: bare websockets echo server, {a.stations} stations, {a.duration}s", flush=True)
            echo_port = free_port()
            echo = procs.spawn("echo", [PY, "-m", "bench.gateway.echo", str(echo_port)])
            wait_line(echo)
            echo_rate, echo_cpu = self.mix(f"ws://127.0.0.1:{echo_port}/ocpp", "MIX-", echo)
            self.results.update(echo_cpu_us_per_round_trip=round(echo_cpu))
            procs.stop(echo)
        if parts & {"mix", "storm"}:
            self.gateway_parts(parts, echo_rate if "mix" in parts else 0.0)
        if parts & {"password-storm", "flood"}:
            self.password_parts(parts)
        if "latency" in parts:
            self.latency(lat_ids)
        return self.results

    def password_parts(self, parts: set[str]) -> None:
        """Security profile 1 on topics of their own: the storm right after a gateway (re)start, whose password
        cache is empty; then a wrong-password flood against a connected station's Heartbeats."""
        a, procs = self.args, self.procs
        self.prefix = f"bench-{secrets.token_hex(3)}-pw."
        pw_ids = [f"PW-{i:06d}" for i in range(a.idle)]
        asyncio.run(register(self.bootstrap, self.prefix, pw_ids, password_of=_password_of))
        asyncio.run(register(self.bootstrap, self.prefix, ["PROBE-1"]))
        responder = procs.spawn(
            "auth-responder", [PY, "-m", "bench.gateway.auth_responder", self.bootstrap, self.prefix]
        )
        wait_line(responder)
        gateway, url, _ = self.gateway()
        if "password-storm" in parts:
            print(f"password storm: {a.idle} profile-1 stations after a gateway start, {a.concurrency} at a time")
            cpu0 = cpu_seconds(gateway.pid)
            storm = self.storm_clients(url, "PW-", hold=5, password=True)
            boots = sum(r["outcomes"].get("Accepted", 0) for r in storm)
            seconds = max(r["finished"] for r in storm) - min(r["started"] for r in storm)
            self.results.update(
                password_storm_boots=boots,
                password_storm_outcomes=[r["outcomes"] for r in storm],
                password_storm_seconds=round(seconds, 2),
                password_boots_per_s=round(boots / seconds),
                password_gateway_cpu_ms_per_boot=round(1000 * (cpu_seconds(gateway.pid) - cpu0) / max(boots, 1), 2),
            )
        if "flood" in parts:
            print(f"wrong-password flood: {a.flood_concurrency} upgrades at a time for one station, {a.duration}s")
            timed = {"duration": a.duration, "start_at": time.time() + 3}
            attacker = {
                "url": url,
                "station": "PW-000000",
                "concurrency": a.flood_concurrency,
                "duration": a.duration + 3,
            }
            baseline = run_clients(procs, "probe", [{"url": url, "station": "PROBE-1", "duration": a.duration}])[0]
            clients = [  # the attacker and the probe in processes of their own, at the same time
                procs.spawn("flood", [PY, "-m", "bench.gateway.load", "flood", json.dumps(attacker)]),
                procs.spawn("probe", [PY, "-m", "bench.gateway.load", "probe",
                                      json.dumps({"url": url, "station": "PROBE-1", **timed})]),
            ]  # fmt: skip
            flood_result, probe = (json.loads(wait_line(c, "{", timeout=900)) for c in clients)
            for client in clients:
                client.wait(timeout=60)
                procs.running.remove(client)
            again = {
                "url": url,
                "indexes": [1, 101, 1],
                "prefix": "PW-",
                "password": True,
                "concurrency": 100,
                "hold": 0,
            }
            honest = run_clients(procs, "storm", [again])[0]
            self.results.update(
                flood_attempts_per_s=round(flood_result["attempts_per_s"]),
                flood_statuses=flood_result["statuses"],
                heartbeat_p99_ms_quiet=round(baseline["p99_ms"], 1),
                heartbeat_p50_ms_during_flood=round(probe["p50_ms"], 1),
                heartbeat_p99_ms_during_flood=round(probe["p99_ms"], 1),
                heartbeat_max_ms_during_flood=round(probe["max_ms"], 1),
                honest_boots_right_after_flood=honest["outcomes"],
            )
        procs.stop(gateway)
        procs.stop(responder)

    def storm_clients(self, url: str, prefix: str, *, hold: float, password: bool = False) -> list[dict[str, Any]]:
        a, procs = self.args, self.procs
        parts = [
            {"url": url, "indexes": part, "prefix": prefix, "concurrency": a.concurrency // a.clients, "hold": hold,
             "password": password}
            for part in split(a.idle, a.clients)
        ]  # fmt: skip
        storms = [
            procs.spawn(f"storm-{n}", [PY, "-m", "bench.gateway.load", "storm", json.dumps(p)])
            for n, p in enumerate(parts)
        ]
        results = [json.loads(wait_line(s, "{", timeout=900)) for s in storms]
        for s in storms:
            s.wait(timeout=120)
            procs.running.remove(s)
        return results

    def gateway_parts(self, parts: set[str], echo_rate: float) -> None:
        a, procs = self.args, self.procs
        responder = procs.spawn(
            "auth-responder",
            [PY, "-m", "bench.gateway.auth_responder", self.bootstrap, self.prefix],
        )
        gateway, url, _ = self.gateway()
        wait_line(responder)
        if "storm" in parts:
            self.storm(gateway, url)
        if "mix" in parts:
            print(f"gateway: the same {a.stations} stations, {a.duration}s", flush=True)
            gateway_rate, gateway_cpu = self.mix(url, "MIX-", gateway)
            self.results.update(
                gateway_cpu_us_per_round_trip=round(gateway_cpu),
                echo_round_trips_per_s=round(echo_rate),
                gateway_round_trips_per_s=round(gateway_rate),
                ratio=round(gateway_rate / echo_rate, 3),
            )
        procs.stop(gateway)
        procs.stop(responder)

    def storm(self, gateway: subprocess.Popen[bytes], url: str) -> None:
        a, procs = self.args, self.procs
        idle_rss0 = rss_kib(gateway.pid)
        cpu0 = cpu_seconds(gateway.pid)
        print(f"reconnect storm: {a.idle} stations connect and boot, {a.concurrency} at a time", flush=True)
        parts = [
            {"url": url, "indexes": part, "prefix": "IDLE-", "concurrency": a.concurrency // a.clients, "hold": 20}
            for part in split(a.idle, a.clients)
        ]
        storms = [
            procs.spawn(f"storm-{n}", [PY, "-m", "bench.gateway.load", "storm", json.dumps(p)])
            for n, p in enumerate(parts)
        ]
        storm = [json.loads(wait_line(s, "{", timeout=900)) for s in storms]
        storm_cpu = cpu_seconds(gateway.pid) - cpu0
        time.sleep(5)  # let the connect events settle
        idle_rss1 = rss_kib(gateway.pid)
        for s in storms:
            s.wait(timeout=120)
            procs.running.remove(s)
        boots = sum(r["outcomes"].get("Accepted", 0) for r in storm)
        storm_seconds = max(r["finished"] for r in storm) - min(r["started"] for r in storm)
        connected = sum(r["connected"] for r in storm)
        self.results.update(
            storm_boots=boots,
            storm_outcomes=[r["outcomes"] for r in storm],
            storm_seconds=round(storm_seconds, 2),
            boots_per_s=round(boots / storm_seconds),
            gateway_cpu_ms_per_boot=round(1000 * storm_cpu / max(boots, 1), 2),
            idle_connections=connected,
            rss_before_kib=idle_rss0,
            rss_idle_kib=idle_rss1,
            rss_per_idle_connection_kib=round((idle_rss1 - idle_rss0) / max(connected, 1), 1),
        )

    def latency(self, lat_ids: list[str]) -> None:
        """On topics of its own: the auth service starts without the backlog of the other parts."""
        a, procs = self.args, self.procs
        self.prefix = f"bench-{secrets.token_hex(3)}-lat."
        asyncio.run(register(self.bootstrap, self.prefix, lat_ids))
        auth_http = free_port()
        folder = Path(tempfile.mkdtemp(prefix="bench-auth-"))
        env = {
            "VOLTLINE_KAFKA_BOOTSTRAP": self.bootstrap,
            "VOLTLINE_TOPIC_PREFIX": self.prefix,
            "VOLTLINE_ADMIN_TOKEN": TOKEN,
            "VOLTLINE_HTTP_PORT": str(auth_http),
            "VOLTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{folder}/auth.db",
            "VOLTLINE_LOG_LEVEL": "WARNING",
        }
        if a.fake_auth:
            auth = procs.spawn(
                "auth-responder", [PY, "-m", "bench.gateway.auth_responder", self.bootstrap, self.prefix]
            )
            wait_line(auth)
        else:
            auth = procs.spawn("auth", [PY, "-m", "voltline_auth"], env)
            wait_ready(f"http://127.0.0.1:{auth_http}")
        for n in range(0 if a.fake_auth else 50):
            body = json.dumps({"id_token": f"BENCH-{n}", "type": "ISO14443"}).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{auth_http}/api/v1/id-tokens",
                data=body,
                headers={"Authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
            )
            urllib.request.urlopen(request, timeout=10).close()
        gateway, url, _ = self.gateway()
        print(
            f"latency: Authorize at {a.auth_rate}/s through Kafka and the auth service, "
            f"with {a.background_rate} msg/s of background load, {a.duration}s",
            flush=True,
        )
        auth_range, background_range = [0, a.auth_stations, 1], [a.auth_stations, len(lat_ids), 1]
        common = {"url": url, "prefix": "LAT-", "auth_rate": a.auth_rate, "bg_rate": a.background_rate}
        warm = {**common, "auth": auth_range, "background": [0, 0, 1], "auth_rate": 20, "duration": 10}
        run_clients(procs, "latency", [warm])  # the auth service's consumer group settles
        # The Authorize stations and the background ones in processes of their own: a probe that shares its
        # event loop with 2,000 msg/s of background traffic would time its own queueing, not the system's.
        timed = {"duration": a.duration, "start_at": time.time() + 10}
        probe = {**common, **timed, "auth": auth_range, "background": [0, 0, 1]}
        load = {**common, **timed, "auth": [0, 0, 1], "background": background_range}
        result, background = run_clients(procs, "latency", [probe, load])
        procs.stop(gateway)
        procs.stop(auth)
        self.results.update(
            authorize_answered_by="instant stand-in" if a.fake_auth else "auth service (SQLite)",
            authorize_p50_ms=round(result["p50_ms"], 1),
            authorize_p99_ms=round(result["p99_ms"], 1),
            authorize_max_ms=round(result["max_ms"], 1),
            authorize_count=result["authorize_count"],
            authorize_statuses=result["statuses"],
            background_msgs_per_s=round(background["background_per_s"]),
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway", description=__doc__)
    parser.add_argument("--kafka", help="bootstrap servers of a running Kafka (default: start one)")
    parser.add_argument("--stations", type=int, default=1000, help="stations in the throughput mix")
    parser.add_argument("--idle", type=int, default=10_000, help="stations in the storm, then held idle")
    parser.add_argument("--concurrency", type=int, default=1000, help="connects in flight during the storm")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per measurement")
    parser.add_argument("--clients", type=int, default=2, help="processes simulating stations")
    parser.add_argument("--auth-rate", type=float, default=20.0, help="Authorize calls per second")
    parser.add_argument("--auth-stations", type=int, default=20)
    parser.add_argument("--background-rate", type=float, default=2000.0, help="background messages per second")
    parser.add_argument("--background-stations", type=int, default=400)
    parser.add_argument(
        "--fake-auth", action="store_true", help="latency: an instant stand-in instead of the auth service"
    )
    parser.add_argument("--warmup", type=float, default=45.0, help="seconds of Kafka traffic before measuring")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--flood-concurrency", type=int, default=200, help="wrong-password upgrades in flight")
    parser.add_argument(
        "--only",
        choices=["mix", "storm", "password-storm", "flood", "latency"],
        action="append",
        help="run only these parts (repeatable)",
    )
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    procs = Procs(logs)
    kafka = None
    try:
        if args.kafka:
            bootstrap = args.kafka
        else:
            from voltline_devinfra.kafka import PRODUCTION_JVM_OPTS, KafkaServer

            # Tuned as a broker is in production (full JIT, G1), not for the tests' quick start.
            kafka = KafkaServer(jvm_options=PRODUCTION_JVM_OPTS, heap="1g").start()
            bootstrap = kafka.bootstrap_servers
        if args.warmup:
            print(f"warming Kafka up for {args.warmup:.0f}s", flush=True)
            print(f"  {asyncio.run(warm_kafka(bootstrap, args.warmup))} messages", flush=True)
        results = {"machine": machine(), **Bench(args, bootstrap, procs).run()}
    finally:
        procs.stop_all()
        if kafka is not None:
            kafka.stop()
    print(json.dumps(results, indent=2))
    print(f"(process logs in {logs})")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

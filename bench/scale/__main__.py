"""Consumer failover: `uv run python -m bench.scale [--rounds 3 --session-timeout-ms 2000]`.

Two replicas of a consumer group (each `bench.scale.worker`, an EventConsumer, in its own process) share a
6-partition topic over real Apache Kafka (started here with the test settings unless --kafka is given; its
`group.min.session.timeout.ms` is 1 s). Every partition gets a message every 20 ms. One replica is
SIGKILLed; the figures per round:

- moved: from the kill to the first message the survivor handles on each of the dead replica's partitions
  (the partitions served again);
- survivor pause: the longest gap in the survivor's own partitions around the kill (what the rebalance costs
  the partitions that did not move; aiokafka's rebalances are eager, see docs/scaling.md).

With `--static` it also measures a restart under static membership (VOLTLINE_KAFKA_STATIC_MEMBERSHIP): the
killed replica is started again at once under the same instance id, and "moved" is when its partitions are
served again (by whichever replica holds them then).

Each message's "partition" is carried as its station id, so the worker needs no Kafka metadata.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict

from aiokafka import AIOKafkaProducer
from voltline_bus import BusConfig, TopicSpec, ensure_topics
from voltline_bus.headers import envelope_headers
from voltline_devinfra.kafka import KafkaServer
from voltline_events import envelope_for
from voltline_events.payloads import Heartbeat

PARTITIONS = 6
TICK_S = 0.02


class Replica:
    def __init__(self, bootstrap: str, topic: str, group: str, session_ms: int, name: str, instance: str = "") -> None:
        self.name = name
        self.seen: dict[int, list[float]] = defaultdict(list)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.scale.worker", bootstrap, topic, group, str(session_ms), instance],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("ready"):
                self.ready.set()
                continue
            fields = line.split()
            if len(fields) == 2 and fields[0].isdigit():  # anything else is the worker's log
                self.seen[int(fields[0])].append(float(fields[1]))

    def partitions_since(self, since: float) -> set[int]:
        return {p for p, times in self.seen.items() if times and times[-1] > since}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


async def produce(bootstrap: str, topic: str, until: float) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        while time.monotonic() < until:
            for partition in range(PARTITIONS):
                envelope = envelope_for(Heartbeat(ocpp_version="ocpp1.6"), source="bench/1", station_id=str(partition))
                await producer.send(topic, envelope.to_bytes(), partition=partition, headers=envelope_headers(envelope))
            await asyncio.sleep(TICK_S)
    finally:
        await producer.stop()


async def one_round(bootstrap: str, session_ms: int, static: bool = False) -> tuple[float, float]:
    """Kill one of two replicas (and with `static`, start it again at once under the same instance id)."""
    topic, group = f"bench-scale-{secrets.token_hex(4)}", f"bench-scale-{secrets.token_hex(4)}"
    await ensure_topics(BusConfig(bootstrap=bootstrap, client_id="bench"), [TopicSpec(topic, partitions=PARTITIONS)])
    replicas = [Replica(bootstrap, topic, group, session_ms, n, n if static else "") for n in ("a", "b")]
    load = asyncio.create_task(produce(bootstrap, topic, time.monotonic() + 600))
    try:
        for replica in replicas:
            await asyncio.to_thread(replica.ready.wait, 120)
        # Both hold partitions once each has handled messages of its own in the last second.
        while True:
            await asyncio.sleep(1)
            now = time.time()
            a, b = (r.partitions_since(now - 1) for r in replicas)
            if a and b and not (a & b) and len(a | b) == PARTITIONS:
                break
        victim, survivor = replicas
        moving, staying = victim.partitions_since(time.time() - 1), survivor.partitions_since(time.time() - 1)
        killed = time.time()
        victim.proc.send_signal(signal.SIGKILL)
        serving = [survivor]
        if static:
            victim.proc.wait()
            replicas.append(Replica(bootstrap, topic, group, session_ms, "a2", "a"))
            serving.append(replicas[-1])

        def first_after(p: int) -> float | None:
            times = [t for r in serving for t in r.seen[p] if t > killed]
            return min(times) if times else None

        while not all(first_after(p) is not None for p in moving):
            await asyncio.sleep(0.05)
            if time.time() - killed > 120:
                raise RuntimeError("the dead replica's partitions never moved")
        await asyncio.sleep(2)
        moved = max((first_after(p) or killed) - killed for p in moving)
        pause = 0.0
        for p in staying:
            times = sorted(t for r in serving for t in r.seen[p] if killed - 1 < t)
            pause = max([pause, *(b - a for a, b in itertools.pairwise(times))])
        return moved, pause
    finally:
        load.cancel()
        await asyncio.gather(load, return_exceptions=True)
        for replica in replicas:
            replica.stop()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--kafka", help="bootstrap servers of an existing Kafka (its min session timeout must allow)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--session-timeout-ms", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--static", action="store_true", help="also restart a static member at once")
    args = parser.parse_args()
    server = None
    if args.kafka:
        bootstrap = args.kafka
    else:
        server = KafkaServer().start()
        bootstrap = server.bootstrap_servers
    kinds = [("killed", False), *([("static member restarted", True)] if args.static else [])]
    try:
        results: dict[tuple[str, int], list[tuple[float, float]]] = {}
        for kind, static in kinds:
            for session_ms in args.session_timeout_ms:
                results[kind, session_ms] = []
                for number in range(1, args.rounds + 1):
                    moved, pause = asyncio.run(one_round(bootstrap, session_ms, static))
                    results[kind, session_ms].append((moved, pause))
                    print(
                        f"{kind}, session {session_ms} ms, round {number}: partitions served again after"
                        f" {moved:.2f} s, survivor paused {pause:.2f} s",
                        flush=True,
                    )
    finally:
        if server is not None:
            server.stop()
    print("\nconsumer replica failover (2 replicas, 6 partitions, one SIGKILLed; real Kafka)")
    print("  replica                   session timeout   its partitions served again        survivor's own paused")
    for (kind, session_ms), rounds in results.items():
        moved = [m for m, _ in rounds]
        pauses = [p for _, p in rounds]
        print(
            f"  {kind:<25} {session_ms / 1000:>5.1f} s"
            f"           median {statistics.median(moved):.2f} s, max {max(moved):.2f} s"
            f"     median {statistics.median(pauses):.2f} s, max {max(pauses):.2f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Process plumbing of the benchmark: starting, watching and measuring the processes it runs."""

from __future__ import annotations

import asyncio
import os
import platform
import secrets
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from voltline_bus import BusConfig, Outgoing, Producer, TopicSpec, ensure_topics
from voltline_chassis.station_secrets import make_verifier
from voltline_events import Topics, envelope_for, station_key
from voltline_events.payloads import StationRegistered


class Procs:
    """The processes this benchmark started, stopped (by pid) at the end."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[subprocess.Popen[bytes]] = []

    def spawn(
        self, name: str, args: list[str], env: dict[str, str] | None = None, *, own_session: bool = False
    ) -> subprocess.Popen[bytes]:
        """`own_session`: as `make run` starts each service (a session, so an autogroup, of its own)."""
        path = self.logs / f"{len(list(self.logs.iterdir())):02d}-{name}.log"
        with open(path, "ab") as log:
            proc = subprocess.Popen(
                args, env={**os.environ, **(env or {})}, stdout=log, stderr=log, start_new_session=own_session
            )
        proc.log_path = path  # type: ignore[attr-defined]
        self.running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.running)):
            self.stop(proc)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_split(pid: int) -> tuple[float, float, int]:
    """User and system CPU seconds so far, and how often the process went to sleep (voluntary context switches
    of its threads: an event loop's waits in epoll, roughly its loop turns that found nothing to do)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    sleeps = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        sleeps += int(status.split("voluntary_ctxt_switches:", 1)[1].split()[0])
    return int(fields[11]) / tick, int(fields[12]) / tick, sleeps


def schedstat(pid: int) -> tuple[float, float, int]:
    """The process's main thread (the event loop): seconds on a core, seconds runnable but waiting for a core,
    and how many times it was put on a core (/proc/PID/schedstat)."""
    ran, waited, slices = Path(f"/proc/{pid}/schedstat").read_text().split()
    return int(ran) / 1e9, int(waited) / 1e9, int(slices)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def wait_line(proc: subprocess.Popen[bytes], expected: str = "ready", timeout: float = 120) -> str:
    """The first line of the process's output (its log file) that starts with `expected`.

    Output goes to a file, never a pipe: a pipe nobody reads fills up and stalls the process that writes.
    """
    log: Path = proc.log_path  # type: ignore[attr-defined]
    deadline = time.time() + timeout
    while time.time() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith(expected):
                return line
        if proc.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])  # the folder may be gone later
            raise RuntimeError(f"process {proc.args!r} ended with {proc.returncode}; see {log}; it ended with:\n{tail}")
        time.sleep(0.1)
    raise TimeoutError(f"{proc.args!r} did not say {expected!r}; see {log}")


def wait_ready(url: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} not ready")


async def register(
    bootstrap: str, prefix: str, station_ids: list[str], password_of: Callable[[str], str] | None = None
) -> None:
    """Put stations in the registry topic, as the auth service does (profile 0: no credentials; with
    `password_of`: profile 1 and the verifier auth would publish for that password)."""
    config = BusConfig(bootstrap=bootstrap, client_id="bench-setup", idempotence=False, linger_ms=20)
    topics = Topics(prefix)
    await ensure_topics(
        config,
        [
            TopicSpec(topics.station_registry, compacted=True),
            TopicSpec(topics.station_events, partitions=6),
            TopicSpec(topics.auth_requests, partitions=6),
        ],
    )
    async with Producer(config) as producer:

        def entry(station_id: str) -> StationRegistered:
            if password_of is None:
                return StationRegistered(status="Accepted", security_profile=0)
            verifier = make_verifier(password_of(station_id))
            return StationRegistered(status="Accepted", security_profile=1, password_hash=verifier)

        batch = [
            Outgoing(topics.station_registry, envelope_for(entry(s), source="bench", station_id=s), station_key(s))
            for s in station_ids
        ]
        for start in range(0, len(batch), 5000):
            await producer.publish_many(batch[start : start + 5000])


async def warm_kafka(bootstrap: str, seconds: float) -> int:
    """Produce and consume 1 KB messages for `seconds`: the broker's JIT compiles its hot paths before anything is
    measured (a broker in production has run for days; a cold one spends a core compiling for a minute)."""
    topic = f"bench-warmup-{secrets.token_hex(3)}"
    config = BusConfig(bootstrap=bootstrap, client_id="bench-warmup", idempotence=False, linger_ms=2)
    await ensure_topics(config, [TopicSpec(topic, partitions=6)])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=topic, auto_offset_reset="earliest")
    await producer.start()
    await consumer.start()
    stop = time.monotonic() + seconds
    value = b"x" * 1000

    async def produce() -> int:
        sent = 0
        while time.monotonic() < stop:
            futures = [await producer.send(topic, value, key=str(n).encode()) for n in range(200)]
            await asyncio.gather(*futures)
            sent += len(futures)
        return sent

    async def consume() -> None:
        while time.monotonic() < stop:
            await consumer.getmany(timeout_ms=200)
            await consumer.commit()

    try:
        sent, _ = await asyncio.gather(produce(), consume())
    finally:
        await consumer.stop()
        await producer.stop()
    return sent


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    return f"{os.cpu_count()} cores ({cpu}), {mem} GiB RAM, Python {platform.python_version()}, {platform.system()}"


def listener_pid(port: int) -> int | None:
    """The process listening on TCP `port` on this machine (a broker we did not start: its CPU counts too)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(fields[9])
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    return int(proc.name)
        except OSError:
            continue
    return None

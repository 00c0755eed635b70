"""Process plumbing shared by the servers: free ports, child lifetimes, log tails.

Every server here is a child process that must never outlive the Python process that
started it (a leaked broker keeps ports and RAM on a shared 2-core machine), so children
get a parent-death signal and are also tracked for an ``atexit`` sweep.

Linux sends the parent-death signal when the *thread* that forked exits, not the process.
A child started from a short-lived thread (``await asyncio.to_thread(kafka.resume)``) would
be killed as soon as that thread ended, so such children used to get no signal at all and
survived a SIGKILLed pytest. Every child is now forked by a thread that lives as long as
the process: the main thread when it asks, otherwise one daemon spawner thread.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import platform
import queue
import random
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol

# Ports are drawn below Linux's ephemeral range (32768+) so that a port we release during
# Kafka pause()/resume() cannot be taken meanwhile by some client's outgoing connection.
_PORT_RANGE = (15000, 32000)
_PR_SET_PDEATHSIG = 1


class ServerError(RuntimeError):
    """A local server failed to start or stop; the message carries its log tail."""


def _worker_range() -> tuple[int, int]:
    """This process's share of ``_PORT_RANGE``: each pytest-xdist worker draws from its own slice, so two workers
    never hand out the same port between one's check and its server's bind."""
    low, high = _PORT_RANGE
    try:
        index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
        count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    except ValueError:
        return low, high
    if count <= 1 or not 0 <= index < count:
        return low, high
    size = (high - low) // count
    return low + index * size, low + (index + 1) * size - 1


_HANDED_OUT: dict[int, float] = {}  # port -> when this process last returned it
_REUSE_AFTER_S = 600.0


def free_port(host: str = "127.0.0.1", exclude: frozenset[int] = frozenset()) -> int:
    """Pick a currently bindable TCP port outside the ephemeral range (see ``_PORT_RANGE``).

    A port stays bindable until its server starts, seconds later: one handed out in the last ten minutes is not
    handed out again (several services of one stack asked in a row could get the same one), and each xdist
    worker draws from its own slice of the range."""
    low, high = _worker_range()
    now = time.monotonic()
    for _ in range(200):
        port = random.randint(low, high)
        if port in exclude or now - _HANDED_OUT.get(port, -_REUSE_AFTER_S) < _REUSE_AFTER_S:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            _HANDED_OUT[port] = now
            return port
    raise ServerError(f"no free TCP port found on {host} in {low}-{high}")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def ensure_port_unused(host: str, port: int, what: str) -> None:
    """Refuse a port that already has a listener: the readiness probe would talk to it instead."""
    if port_open(host, port, timeout=0.2):
        raise ServerError(f"cannot start {what}: {host}:{port} is already in use by another process")


def log_tail(path: Path, lines: int = 60) -> str:
    """Last lines of a log file, for error messages; never raises."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"<log {path} unreadable: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


def _parent_death_preexec(death_signal: int) -> Callable[[], None] | None:
    """Build a preexec_fn that makes the child receive ``death_signal`` when we die.

    This covers the cases ``atexit`` cannot: SIGKILL of pytest, OOM kills, CI timeouts.
    Returns None where prctl is unavailable (non-Linux).
    """
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here, not in the forked child
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, death_signal, 0, 0, 0)
        if os.getppid() != parent:  # parent already gone before prctl took effect
            os.kill(os.getpid(), death_signal)

    return preexec


class _Spawner:
    """One daemon thread that forks on behalf of other threads and never exits before the process does
    (daemon threads are not joined at shutdown), so its children's parent-death signal means "the process died"."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, fn: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="voltline-spawner", daemon=True)
                self._thread.start()
        done: Future[subprocess.Popen[bytes]] = Future()
        self._jobs.put((fn, done))
        return done.result()

    def _serve(self) -> None:
        while True:
            fn, done = self._jobs.get()
            try:
                done.set_result(fn())
            except BaseException as exc:  # handed to the caller's thread
                done.set_exception(exc)


_spawner = _Spawner()


def spawn(
    cmd: list[str],
    *,
    log_path: Path,
    cwd: Path,
    env: dict[str, str] | None = None,
    user: int | None = None,
    group: int | None = None,
    death_signal: int = signal.SIGKILL,
    own_session: bool = True,
    slice_us: int = 0,
) -> subprocess.Popen[bytes]:
    """Start a long-running child with output appended to ``log_path``.

    The child is out of our process group, so a terminal Ctrl-C reaches only us: we then stop it in order
    (graceful signal, timeout, kill) instead of racing its own shutdown. It gets a session of its own (a
    server: the tests' brokers and databases), or with `own_session=False` a process group of its own in our
    session, and so our autogroup (make run's services: docs/adr/0046). `slice_us` > 0 asks for a short
    scheduler slice for it (see `set_sched_slice`).
    """
    preexec = _parent_death_preexec(death_signal)
    if preexec is not None and slice_us > 0:  # set in the child before exec: every thread it starts inherits it
        preexec = _with_slice(preexec, slice_us)

    def fork() -> subprocess.Popen[bytes]:
        with log_path.open("ab") as log:
            return subprocess.Popen(
                cmd,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=own_session,
                process_group=None if own_session else 0,
                preexec_fn=preexec,
                user=user,
                group=group,
                extra_groups=[] if user is not None else None,
            )

    # The parent-death signal is tied to the *thread* that forked: fork from one that lives as long as we do.
    if preexec is None or threading.current_thread() is threading.main_thread():
        proc = fork()
    else:
        proc = _spawner.run(fork)
    return proc


def _with_slice(preexec: Callable[[], None], slice_us: int) -> Callable[[], None]:
    def both() -> None:
        preexec()
        _sched_setattr_slice(0, slice_us)  # refused (an old kernel): the default slice, nothing else changes

    return both


_SYS_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}
_SCHED_ATTR_SIZE = 48  # SCHED_ATTR_SIZE_VER0: size, policy, flags, nice, priority, runtime, deadline, period


def set_sched_slice(pid: int, slice_us: int) -> bool:
    """Ask for a scheduler slice of `slice_us` for every thread of `pid` (Linux >= 6.12, EEVDF; any user).

    A task with a slice shorter than the one running preempts it when it wakes, instead of waiting for that
    task's slice (~1.4 ms on 2 cores) to end: what a process that answers callers (the gateway, auth, the
    broker) needs on cores full of bulk consumers. Its share of the CPU is unchanged (that is the nice
    value's). Threads and children created later inherit it. False where the kernel refuses or has no such call.
    """
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return False
    done = False
    for tid in tids:
        done = _sched_setattr_slice(tid, slice_us) or done
    return done


def _sched_setattr_slice(tid: int, slice_us: int) -> bool:
    """sched_setattr(tid) with SCHED_OTHER, the thread's own nice value and a slice (0: the calling thread)."""
    number = _SYS_SCHED_SETATTR.get(platform.machine())
    if number is None or slice_us <= 0:
        return False
    try:
        syscall = ctypes.CDLL(None, use_errno=True).syscall
        nice = os.getpriority(os.PRIO_PROCESS, tid)  # sched_setattr sets the nice value too: keep it
    except (OSError, AttributeError):
        return False
    attr = struct.pack("IIQiIQQQ", _SCHED_ATTR_SIZE, 0, 0, nice, 0, slice_us * 1000, 0, 0)
    return bool(syscall(number, tid, ctypes.c_char_p(attr), 0) == 0)


def sched_slice_us(pid: int) -> int:
    """The scheduler slice of `pid`'s main thread in microseconds (what `set_sched_slice` asked, or the default)."""
    for line in Path(f"/proc/{pid}/sched").read_text().splitlines():
        if line.startswith("se.slice"):
            return int(line.split(":")[1]) // 1000
    return 0


def set_autogroup_nice(pid: int, nice: int) -> bool:
    """Give the autogroup of `pid` (its session's) the nice value `nice`: every process of that session.

    With `kernel.sched_autogroup_enabled` (the default of most distributions) the scheduler first shares
    the CPU between sessions and a process's own nice value only ranks it inside its session: the
    autogroup's nice is what ranks a session against the others. make run no longer sets it (docs/adr/0046);
    the benchmarks do, for the layout before. False where the kernel has no autogroups (or refuses).
    """
    try:
        Path(f"/proc/{pid}/autogroup").write_text(f"{nice}\n")
    except OSError:
        return False
    return True


POLICIES = {"normal": os.SCHED_OTHER, "batch": os.SCHED_BATCH, "idle": os.SCHED_IDLE}
"""Scheduling policies `lower_priority` may give a process's threads (lowering needs no privilege)."""


def lower_priority(pid: int, *, nice: int, policy: str = "normal") -> bool:
    """Rank a running process below the others of its autogroup: every thread at `nice` (at least), under `policy`.

    make run's bulk consumers once they are ready (docs/adr/0036, 0046): starting them low starved their
    start-up on a busy machine. They share make run's autogroup with the request path, so inside it
    "idle" (SCHED_IDLE) weighs them 3 against a normal thread's 1,024 and a waking normal thread preempts them
    at once; "batch" only keeps them from preempting others when they wake; `nice` ranks "normal" and "batch"
    threads. Threads started later inherit the policy and nice value of the thread that starts them. An
    unprivileged process cannot take either back: the change is for the rest of the process's life (a restart
    starts it at normal priority again). False where part of it was refused.
    """
    done = True
    seen: set[int] = set()
    while True:  # again until no new thread appeared meanwhile (one started by a thread not yet lowered)
        try:
            tids = {int(t) for t in os.listdir(f"/proc/{pid}/task")} - seen
        except OSError:
            return False
        if not tids:
            return done
        for tid in tids:
            try:
                if nice > os.getpriority(os.PRIO_PROCESS, tid):
                    os.setpriority(os.PRIO_PROCESS, tid, nice)
                if policy != "normal":
                    os.sched_setscheduler(tid, POLICIES[policy], os.sched_param(0))
            except OSError:  # the thread ended meanwhile, or the kernel refused
                done = False
        seen |= tids


def sched_policy(pid: int) -> str:
    """The scheduling policy of `pid`'s main thread by `POLICIES`' name ("other" for one not listed there)."""
    policy = os.sched_getscheduler(pid)
    return next((name for name, value in POLICIES.items() if value == policy), "other")


def autogroup_nice(pid: int) -> int | None:
    """The nice value of `pid`'s autogroup (None where the kernel has none, or `pid` is in init's session's)."""
    try:
        return int(Path(f"/proc/{pid}/autogroup").read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def terminate(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
    """Send ``sig``, wait up to ``timeout`` seconds, then SIGKILL; returns the exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    proc: subprocess.Popen[bytes] | None,
    what: str,
    log_path: Path,
    interval: float = 0.1,
) -> None:
    """Poll ``check`` until true; raise with the log tail if ``proc`` dies or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise ServerError(
                f"{what} exited with code {proc.returncode} during startup; log {log_path}:\n{log_tail(log_path)}"
            )
        if check():
            return
        if time.monotonic() > deadline:
            raise ServerError(
                f"{what} did not become ready within {timeout:.0f}s; log {log_path}:\n{log_tail(log_path)}"
            )
        time.sleep(interval)


class Stoppable(Protocol):
    """Anything the atexit sweep can stop."""

    def stop(self) -> None: ...


# Strong references on purpose: a forgotten, garbage-collected server must still be stopped.
_live: set[Stoppable] = set()


def track(server: Stoppable) -> None:
    """Register a running server for the atexit sweep."""
    _live.add(server)


def untrack(server: Stoppable) -> None:
    """Forget a server that stopped cleanly."""
    _live.discard(server)


@atexit.register
def _stop_all() -> None:
    """Stop whatever is still running when the interpreter exits (e.g. after Ctrl-C)."""
    for server in list(_live):
        with contextlib.suppress(Exception):
            server.stop()

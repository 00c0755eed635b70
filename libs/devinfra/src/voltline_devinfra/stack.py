"""The voltline services as separate processes: what `make run` and the end-to-end tests start.

Each service is `python -m voltline_<name>` with its own environment, log file and HTTP port; the
stack waits for every `/readyz` and stops them all (SIGTERM, then SIGKILL) in reverse order.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from voltline_devinfra._proc import ServerError, log_tail, lower_priority, spawn, terminate, track, untrack

SERVICES = ("auth", "session", "billing", "diagnostics", "analytics", "gateway")
# The operators' web console: no database, no events of its own; `make run` starts it after SERVICES, and an
# end-to-end test adds it to `names` when it drives a browser (the other tests do without it).
CONSOLE = "console"
DEFAULT_PORTS = {
    "gateway": 8000,
    "auth": 8001,
    "session": 8002,
    "billing": 8003,
    "diagnostics": 8004,
    "analytics": 8005,
    "console": 8006,
}
# The services whose public APIs the console's pages are built from (VOLTLINE_CONSOLE_<NAME>_URL).
CONSOLE_BACKENDS = ("auth", "session", "billing", "diagnostics", "analytics")


@dataclass
class ServiceProcess:
    name: str
    http_port: int
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        host = self.env.get("VOLTLINE_HTTP_HOST", "127.0.0.1")
        return f"http://{host}:{self.http_port}"

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False


@dataclass(eq=False)
class Stack:
    """Start with `start()`, stop with `stop()`; `services[name].url` is where each listens."""

    common_env: dict[str, str]
    ports: dict[str, int]
    database_urls: dict[str, str]
    log_dir: Path
    cwd: Path = field(default_factory=Path.cwd)
    names: tuple[str, ...] = SERVICES
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)
    # A second replica of a service gets a name of its own: {"gateway-2": "gateway"} runs voltline_gateway.
    modules: dict[str, str] = field(default_factory=dict)
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    # Services lowered once ready, name -> (threads' nice, policy): make run's bulk consumers (ADR 0036, 0046).
    # They start at normal priority, so a busy machine does not starve their start-up.
    ready_priority: dict[str, tuple[int, str]] = field(default_factory=dict)
    # make run's layout (ADR 0046): every service in our session, so our autogroup, where a bulk consumer's
    # SCHED_IDLE gives way to the request path. Else (the tests' stacks) a session each: on a machine shared with
    # other work, a test's stack then keeps a share per service instead of one for all.
    one_autogroup: bool = False

    def start(self, timeout: float = 60.0) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        track(self)
        for name in self.names:
            env = {**os.environ, **self.common_env, "VOLTLINE_HTTP_PORT": str(self.ports[name])}
            if name in self.database_urls:
                env["VOLTLINE_DATABASE_URL"] = self.database_urls[name]
            if self.modules.get(name, name) == CONSOLE:
                env.update(self.console_env())
            if name == "session" and "billing" in self.ports:  # a start from the app asks billing "can they pay?"
                host = env.get("VOLTLINE_HTTP_HOST", "127.0.0.1")
                env["VOLTLINE_BILLING_URL"] = f"http://{host}:{self.ports['billing']}"
            if name == "billing" and {"auth", "session"} <= set(self.ports):  # a guest's start on the QR page
                host = env.get("VOLTLINE_HTTP_HOST", "127.0.0.1")
                env["VOLTLINE_AUTH_URL"] = f"http://{host}:{self.ports['auth']}"
                env["VOLTLINE_SESSION_URL"] = f"http://{host}:{self.ports['session']}"
            env.update(self.extra_env.get(name, {}))
            service = ServiceProcess(name, self.ports[name], env, self.log_dir / f"{name}.log")
            self.services[name] = service
            self._spawn(service)
        self.wait_ready(timeout)

    def console_env(self) -> dict[str, str]:
        """Where the console finds the services of this stack."""
        host = self.common_env.get("VOLTLINE_HTTP_HOST", "127.0.0.1")
        return {
            f"VOLTLINE_CONSOLE_{name.upper()}_URL": f"http://{host}:{self.ports[name]}"
            for name in CONSOLE_BACKENDS
            if name in self.ports
        }

    def _spawn(self, service: ServiceProcess) -> None:
        service.proc = spawn(
            [sys.executable, "-m", f"voltline_{self.modules.get(service.name, service.name)}"],
            log_path=service.log_path,
            cwd=self.cwd,
            env=service.env,
            death_signal=signal.SIGTERM,
            # Out of our process group either way, so Ctrl-C reaches only us; VOLTLINE_PROCESS_NICE is applied by
            # the service itself.
            own_session=not self.one_autogroup,
            # The request path (gateway, auth) preempts the bulk consumers when it wakes (run.REQUEST_PATH_SLICE_US).
            slice_us=_slice_us(service.env.get("VOLTLINE_SCHED_SLICE_US", "")),
        )

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = set(self.services)
        while pending:
            for name in sorted(pending):
                service = self.services[name]
                if service.proc is not None and service.proc.poll() is not None:
                    raise ServerError(
                        f"{name} exited with code {service.proc.returncode}; log {service.log_path}:\n"
                        f"{log_tail(service.log_path)}"
                    )
                if service.ready():
                    pending.discard(name)
                    self._lower(service)
            if pending and time.monotonic() > deadline:
                tails = "\n".join(f"--- {n}:\n{log_tail(self.services[n].log_path, 20)}" for n in sorted(pending))
                raise ServerError(f"not ready within {timeout:.0f}s: {', '.join(sorted(pending))}\n{tails}")
            time.sleep(0.2)

    def _lower(self, service: ServiceProcess) -> None:
        """A ready service given a `ready_priority` gives way to the others from now on (a restart starts it
        at normal priority again, and it is lowered again once ready)."""
        priority = self.ready_priority.get(service.name)
        if priority is not None and service.proc is not None and service.proc.poll() is None:
            nice, policy = priority
            lower_priority(service.proc.pid, nice=nice, policy=policy)

    def restart(self, name: str, timeout: float = 60.0) -> None:
        """Stop one service and start it again (used to prove a restart loses nothing)."""
        self.halt(name)
        self.resume(name, timeout)

    def halt(self, name: str) -> None:
        """Stop one service until `resume(name)`: what the others do while it is away (tests)."""
        service = self.services[name]
        if service.proc is not None:
            terminate(service.proc, timeout=20)

    def resume(self, name: str, timeout: float = 60.0) -> None:
        """Start a halted service again and wait until it is ready."""
        self._spawn(self.services[name])
        self.wait_ready(timeout)

    def dead(self) -> list[str]:
        return [n for n, s in self.services.items() if s.proc is not None and s.proc.poll() is not None]

    def stop(self, *, together: bool = False) -> None:
        """Stop every service in reverse order; `together` signals them all first, then waits (tests' teardown)."""
        procs = [s.proc for s in reversed(self.services.values()) if s.proc is not None]
        if not together:
            for proc in procs:
                terminate(proc, timeout=20)
        else:
            for proc in procs:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            for proc in procs:  # one SIGTERM only: a second one makes uvicorn skip its graceful shutdown
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    terminate(proc, signal.SIGKILL, timeout=10)
        untrack(self)


def _slice_us(value: str) -> int:
    """A scheduler slice the kernel accepts (100 us to 100 ms), or 0 for its default."""
    try:
        slice_us = int(value)
    except ValueError:
        return 0
    return 0 if slice_us <= 0 else max(100, min(100_000, slice_us))

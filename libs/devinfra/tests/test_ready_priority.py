"""make run's bulk consumers start at normal priority and give way to the request path once ready (ADR 0036), inside
the autogroup they share with it (ADR 0046)."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from voltline_devinfra import stack
from voltline_devinfra._proc import free_port, lower_priority, spawn, terminate, wait_until

# A service stand-in: writes its nice value and policy as it starts, then answers /readyz (a thread per request).
SERVICE = """
import http.server, json, os, sys
from pathlib import Path
started = {"nice": os.getpriority(os.PRIO_PROCESS, 0), "policy": os.sched_getscheduler(0)}
Path(sys.argv[1]).write_text(json.dumps(started))
class Ready(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Ready).serve_forever()
"""


def _priority(pid: int) -> tuple[set[int], set[int]]:
    """The nice values and the scheduling policies of `pid`'s threads."""
    tids = [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    return {os.getpriority(os.PRIO_PROCESS, tid) for tid in tids}, {os.sched_getscheduler(tid) for tid in tids}


def _autogroup(pid: int) -> str | None:
    """`pid`'s autogroup and its nice value ("/autogroup-N nice K"; None where the kernel has none)."""
    group = Path(f"/proc/{pid}/autogroup")
    return group.read_text() if group.exists() else None


def _sleeper(tmp_path: Path) -> Any:
    """A child with two threads besides its main one: the second starts once `tmp_path / "go"` exists."""
    script = (
        "import sys, threading, time; from pathlib import Path\n"
        "threading.Thread(target=time.sleep, args=(300,)).start()\n"
        "while not Path(sys.argv[1]).exists(): time.sleep(0.01)\n"
        "threading.Thread(target=time.sleep, args=(300,)).start()\n"
        "time.sleep(300)\n"
    )
    child = spawn([sys.executable, "-c", script, str(tmp_path / "go")], log_path=tmp_path / "c.log", cwd=tmp_path)
    tasks = Path(f"/proc/{child.pid}/task")
    wait_until(
        lambda: len(list(tasks.iterdir())) == 2, timeout=30, proc=child, what="thread", log_path=tmp_path / "c.log"
    )
    return child


def test_a_bulk_service_is_lowered_once_ready_and_the_request_path_is_untouched(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real_spawn = stack.spawn

    def as_stand_in(cmd: list[str], **kwargs: Any) -> Any:
        name = cmd[-1].removeprefix("voltline_")
        script = [sys.executable, "-c", SERVICE, str(tmp_path / f"{name}.start"), kwargs["env"]["VOLTLINE_HTTP_PORT"]]
        return real_spawn(script, **kwargs)

    monkeypatch.setattr(stack, "spawn", as_stand_in)
    monkeypatch.delenv("VOLTLINE_PROCESS_NICE", raising=False)
    services = stack.Stack(
        common_env={},
        ports={"session": free_port(), "gateway": free_port()},
        database_urls={},
        log_dir=tmp_path,
        names=("session", "gateway"),
        ready_priority={"session": (10, "idle")},
        one_autogroup=True,
    )
    ours = _autogroup(os.getpid())
    try:
        services.start(timeout=60)
        started = {name: json.loads((tmp_path / f"{name}.start").read_text()) for name in ("session", "gateway")}
        # Both came up at normal priority: a busy machine cannot starve the bulk consumer's start-up.
        assert started == {name: {"nice": 0, "policy": os.SCHED_OTHER} for name in ("session", "gateway")}
        session, gateway = (services.services[n].proc for n in ("session", "gateway"))
        assert session is not None and gateway is not None
        assert _priority(session.pid) == ({10}, {os.SCHED_IDLE})
        assert services.services["session"].ready()  # a thread started after the change (the request's) answers
        assert _priority(session.pid) == ({10}, {os.SCHED_IDLE})
        assert _priority(gateway.pid) == ({0}, {os.SCHED_OTHER})  # a charger waits on it: untouched
        # One autogroup for the stack, ours, not niced: SCHED_IDLE ranks the bulk consumer inside it.
        assert _autogroup(session.pid) == _autogroup(gateway.pid) == _autogroup(os.getpid()) == ours
        services.restart("session", timeout=60)  # a restarted bulk service starts at normal priority again
        assert json.loads((tmp_path / "session.start").read_text()) == {"nice": 0, "policy": os.SCHED_OTHER}
        assert services.services["session"].proc is not None
        assert _priority(services.services["session"].proc.pid) == ({10}, {os.SCHED_IDLE})
    finally:
        services.stop(together=True)


def test_lowering_reaches_every_thread_and_threads_started_later(tmp_path: Path) -> None:
    """The policy and the nice value are per thread on Linux: each one is set, and threads started afterwards
    inherit them; the autogroup (shared with the request path) is left alone."""
    ours = _priority(os.getpid()), _autogroup(os.getpid())
    child = _sleeper(tmp_path)
    group = _autogroup(child.pid)
    try:
        assert lower_priority(child.pid, nice=12, policy="batch")
        (tmp_path / "go").touch()
        tasks = Path(f"/proc/{child.pid}/task")
        wait_until(
            lambda: len(list(tasks.iterdir())) == 3, timeout=30, proc=child, what="threads", log_path=tmp_path / "c.log"
        )
        assert _priority(child.pid) == ({12}, {os.SCHED_BATCH})
        assert (_priority(os.getpid()), _autogroup(os.getpid())) == ours
        assert _autogroup(child.pid) == group
    finally:
        terminate(child, signal.SIGKILL)

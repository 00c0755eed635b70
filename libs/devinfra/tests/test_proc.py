"""Servers never outlive a SIGKILLed parent, whichever thread started them."""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from voltline_devinfra._proc import wait_until

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's prctl")

# Starts `sleep` from a worker thread that then ends (as `await asyncio.to_thread(kafka.resume)` does), prints
# its pid once the thread is gone, and waits to be killed.
PARENT = textwrap.dedent(
    """
    import sys, threading, time
    from pathlib import Path
    from voltline_devinfra._proc import spawn

    started = []
    worker = threading.Thread(target=lambda: started.append(spawn(["sleep", "300"], log_path=Path(sys.argv[1]),
                                                                   cwd=Path(sys.argv[2]))))
    worker.start()
    worker.join()
    print(started[0].pid, flush=True)
    time.sleep(300)
    """
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")  # a zombie has died; only its reaping is left


def test_a_child_started_from_a_thread_dies_with_its_killed_parent(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(log), str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    child = 0
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert _alive(child), "the child must outlive the thread that started it"
        parent.send_signal(signal.SIGKILL)  # what a CI timeout or the OOM killer does to pytest
        parent.wait(timeout=30)
        wait_until(lambda: not _alive(child), timeout=30, proc=None, what=f"child {child}'s death", log_path=log)
    finally:
        parent.kill()
        parent.wait(timeout=30)
        if child and _alive(child):
            os.kill(child, signal.SIGKILL)


def test_a_child_in_our_session_has_a_process_group_of_its_own(tmp_path: Path) -> None:
    """make run's services share our session, so our autogroup (docs/adr/0046), yet a terminal's Ctrl-C (sent to
    the foreground process group) reaches only us; the servers keep sessions of their own."""
    from voltline_devinfra._proc import spawn, terminate

    ours = Path("/proc/self/autogroup").read_text() if Path("/proc/self/autogroup").exists() else None
    child = spawn(["sleep", "300"], log_path=tmp_path / "in.log", cwd=tmp_path, own_session=False)
    server = spawn(["sleep", "300"], log_path=tmp_path / "own.log", cwd=tmp_path)
    try:
        assert os.getsid(child.pid) == os.getsid(0)
        assert os.getpgid(child.pid) == child.pid != os.getpgid(0)
        assert os.getsid(server.pid) == server.pid
        if ours is not None:
            assert Path(f"/proc/{child.pid}/autogroup").read_text() == ours
    finally:
        terminate(child)
        terminate(server)


_EEVDF_SLICES = tuple(int(p) for p in platform.release().split(".")[:2] if p.isdigit()) >= (6, 12)


@pytest.mark.skipif(not _EEVDF_SLICES, reason="custom scheduler slices need Linux 6.12")
def test_a_child_asked_for_a_short_slice_has_it_on_every_thread_and_we_keep_ours(tmp_path: Path) -> None:
    """make run's request path (gateway, auth, tansu): the slice is set before exec, so threads started later
    (the broker's runtime, a service's workers) have it too; the nice value is kept."""
    from voltline_devinfra._proc import sched_slice_us, spawn, terminate

    ours = sched_slice_us(os.getpid())
    script = "import threading, time; [threading.Thread(target=time.sleep, args=(300,)).start() for _ in range(2)]"
    child = spawn([sys.executable, "-c", script], log_path=tmp_path / "c.log", cwd=tmp_path, slice_us=150)
    try:
        tasks = Path(f"/proc/{child.pid}/task")
        wait_until(
            lambda: len(list(tasks.iterdir())) == 3, timeout=30, proc=child, what="threads", log_path=tmp_path / "c.log"
        )
        slices = {sched_slice_us(child.pid)} | {
            int(line.split(":")[1]) // 1000
            for task in tasks.iterdir()
            for line in (task / "sched").read_text().splitlines()
            if line.startswith("se.slice")
        }
        assert slices == {150}
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == 0  # sched_setattr kept the (process) nice value
        assert sched_slice_us(os.getpid()) == ours
    finally:
        terminate(child, signal.SIGKILL)


def test_a_port_handed_out_is_not_handed_out_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Services of one stack ask one after another, before any binds: the same draw twice must not give one port
    to two of them (a gateway then failed to start: address already in use)."""
    from voltline_devinfra import _proc

    first = _proc.free_port()
    draws = iter([first, first, first + 1 if first + 1 <= _proc._PORT_RANGE[1] else first - 1])
    monkeypatch.setattr(_proc.random, "randint", lambda _low, _high: next(draws))
    assert _proc.free_port() not in {first}


def test_each_xdist_worker_draws_from_its_own_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    from voltline_devinfra import _proc

    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    low0, high0 = _proc._worker_range()
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    low1, high1 = _proc._worker_range()
    assert _proc._PORT_RANGE[0] == low0 <= high0 < low1 <= high1 <= _proc._PORT_RANGE[1]

"""Stack.stop(together=True): every service gets one SIGTERM before the stack waits for any of them."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from voltline_devinfra.stack import ServiceProcess, Stack

# On SIGTERM: mark "stopping", then wait for the other service's mark; exit 0 only if it came (both stop at once).
SERVICE = """
import signal, sys, time
from pathlib import Path
me, other = Path(sys.argv[1]), Path(sys.argv[2])
def stop(*_):
    me.touch()
    deadline = time.monotonic() + 10
    while not other.exists():
        if time.monotonic() > deadline:
            sys.exit(1)
        time.sleep(0.05)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
me.with_suffix(".up").touch()
while True:
    time.sleep(1)
"""


def test_stop_together_signals_every_service_before_waiting(tmp_path: Path) -> None:
    stack = Stack(common_env={}, ports={}, database_urls={}, log_dir=tmp_path, names=())
    marks = {name: tmp_path / name for name in ("a", "b")}
    for name, other in (("a", "b"), ("b", "a")):
        service = ServiceProcess(name, 0, {}, tmp_path / f"{name}.log")
        service.proc = subprocess.Popen([sys.executable, "-c", SERVICE, str(marks[name]), str(marks[other])])
        stack.services[name] = service
    deadline = time.monotonic() + 60
    while not all(mark.with_suffix(".up").exists() for mark in marks.values()):  # both handlers installed
        assert time.monotonic() < deadline, "the services did not start"
        time.sleep(0.05)
    stack.stop(together=True)
    assert [s.proc.returncode for s in stack.services.values() if s.proc is not None] == [0, 0]

"""`make run`'s embedded default: tansu + SQLite, every service a process, Ctrl-C leaves nothing behind.

This runs the same entry point the Makefile runs (`python -m voltline_devinfra.run`), on free ports
and a temporary data directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ocpp_client import Station, station
from voltline_devinfra._proc import free_port

SERVICES = ("gateway", "auth", "session", "billing", "diagnostics", "analytics", "console")
BOOT_16 = {"chargePointVendor": "ACME", "chargePointModel": "Volt-22"}


class LocalRun:
    def __init__(self, data_dir: Path) -> None:
        taken: set[int] = set()

        def port() -> int:
            p = free_port(exclude=frozenset(taken))
            taken.add(p)
            return p

        self.data_dir = data_dir
        self.ports = {name: port() for name in SERVICES}
        self.kafka_port, self.ocpp_port = port(), port()
        self.proc: subprocess.Popen[str] | None = None
        self.output = ""

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOLTLINE_")}
        env.update({f"VOLTLINE_{name.upper()}_HTTP_PORT": str(p) for name, p in self.ports.items()})
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "voltline_devinfra.run",
                "--data-dir",
                str(self.data_dir),
                "--kafka-port",
                str(self.kafka_port),
                "--ocpp-port",
                str(self.ocpp_port),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output += line
            if "logs in" in line:  # the last line of the banner: read no further (buffering)
                return
        raise AssertionError(f"make run did not come up:\n{self.output}")

    def interrupt(self) -> None:
        """What a terminal's Ctrl-C does: SIGINT to the whole process group."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGINT)
        # Read through the file object: lines its iterator buffered in start() (the rest of the banner, with
        # the token) would be lost to communicate(timeout=...), which reads the raw pipe.
        assert self.proc.stdout is not None
        self.output += self.proc.stdout.read()
        self.proc.wait(timeout=60)

    @property
    def token(self) -> str:
        return (self.data_dir / "admin-token").read_text().strip()

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{self.ocpp_port}/ocpp"

    def api(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"


def processes_with(marker: str) -> list[int]:
    """Pids whose environment carries `marker` (the run's admin token): everything it started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.fixture
def local_run(tmp_path: Path) -> Iterator[LocalRun]:
    run = LocalRun(tmp_path / "data")
    yield run
    if run.proc is not None and run.proc.poll() is None:
        run.interrupt()


def priorities(marker: str) -> dict[str, tuple[str | None, set[int]]]:
    """Each service of the run: its autogroup (and that group's nice value) and its threads' scheduling policies."""
    out: dict[str, tuple[str | None, set[int]]] = {}
    for pid in processes_with(marker):
        try:
            module = (Path(f"/proc/{pid}") / "cmdline").read_bytes().split(b"\0")[2].decode()
            group = Path(f"/proc/{pid}/autogroup")
            autogroup = group.read_text().strip() if group.exists() else None
            policies = {os.sched_getscheduler(int(tid)) for tid in os.listdir(f"/proc/{pid}/task")}
        except (OSError, IndexError):
            continue
        if module.startswith("voltline_"):
            out[module.removeprefix("voltline_")] = (autogroup, policies)
    return out


async def boot(run: LocalRun, station_id: str, password: str | None = None) -> dict:
    async with station(run.ocpp_url, station_id, password=password) as ws:
        cp = Station(ws)
        answer = await cp.call("BootNotification", BOOT_16)
        # A CallError (e.g. while the services recover from a broker restart) is a refused boot: stations retry.
        assert answer[0] == 3, f"BootNotification answered {answer}"
        garbage = await cp.send_raw("{not json")
        assert garbage[0] == 4 and garbage[2] == "FormationViolation"
        beat = await cp.call("Heartbeat", {})
        if answer[2]["status"] == "Accepted":
            assert beat[0] == 3
        else:  # told Pending or Rejected, a station may only boot again
            assert beat[0] == 4 and beat[2] == "SecurityError"
        return answer[2]


def test_make_run_boots_stations_survives_restart_and_stops_clean(local_run: LocalRun) -> None:
    local_run.start()
    token = local_run.token
    headers = {"Authorization": f"Bearer {token}"}
    for name in SERVICES:
        assert httpx.get(f"{local_run.api(name)}/readyz").status_code == 200, name
    # ADR 0036, 0046: the bulk consumers give way once ready, inside the one autogroup (make run's) they share with
    # the request path, which is not lowered.
    running = priorities(token)
    group = running["gateway"][0]
    assert not group or group.endswith(" nice 0")  # none: a kernel without autogroups, or init's session
    assert running == {
        **dict.fromkeys(("session", "billing", "diagnostics", "analytics"), (group, {os.SCHED_IDLE})),
        **dict.fromkeys(("gateway", "auth", "console"), (group, {os.SCHED_OTHER})),
    }
    assert "API key" in httpx.get(f"{local_run.api('console')}/login").text  # the operators' console is up
    created = httpx.post(
        f"{local_run.api('auth')}/api/v1/stations",
        headers=headers,
        json={"station_id": "CP-LOCAL", "password": "sixteen-chars-or-more"},
    )
    assert created.status_code == 201, created.text
    assert asyncio.run(boot(local_run, "CP-LOCAL", "sixteen-chars-or-more"))["status"] == "Accepted"
    assert asyncio.run(boot(local_run, "CP-UNKNOWN"))["status"] == "Rejected"

    local_run.interrupt()
    assert local_run.proc is not None and local_run.proc.returncode == 0, local_run.output
    assert token in local_run.output, "make run must print the admin token"
    assert processes_with(token) == [], "make run left processes behind"

    # The broker forgot its topics; the SQLite stores did not: the station still boots Accepted.
    local_run.start()
    assert asyncio.run(boot(local_run, "CP-LOCAL", "sixteen-chars-or-more"))["status"] == "Accepted"
    listed = httpx.get(f"{local_run.api('auth')}/api/v1/stations", headers=headers).json()
    assert [s["station_id"] for s in listed["items"]] == ["CP-LOCAL"]
    local_run.interrupt()
    assert processes_with(token) == []
    assert json.dumps(listed).count("password") == 1  # only the has_password flag, never a secret


def tansu_pid(kafka_port: int) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"broker" in cmdline and f"tcp://127.0.0.1:{kafka_port}".encode() in cmdline:
                return int(entry.name)
    raise AssertionError("no tansu process found")


def test_make_run_brings_a_killed_broker_back_and_keeps_serving(local_run: LocalRun) -> None:
    """No "voltline failed to start": the broker is restarted (and says so), the services wait for it and
    republish what they own, so a registered station still boots Accepted afterwards."""
    local_run.start()
    headers = {"Authorization": f"Bearer {local_run.token}"}
    created = httpx.post(
        f"{local_run.api('auth')}/api/v1/stations",
        headers=headers,
        json={"station_id": "CP-KILLED", "password": "sixteen-chars-or-more"},
    )
    assert created.status_code == 201, created.text
    os.kill(tansu_pid(local_run.kafka_port), signal.SIGKILL)
    assert local_run.proc is not None and local_run.proc.stdout is not None
    for line in local_run.proc.stdout:
        local_run.output += line
        if "broker back on" in line:
            break
    assert "the embedded broker (tansu) exited" in local_run.output

    async def boots_accepted() -> None:
        for _ in range(120):  # the services notice the new broker within a second or two
            try:
                if (await boot(local_run, "CP-KILLED", "sixteen-chars-or-more"))["status"] == "Accepted":
                    return
            except (OSError, AssertionError, TimeoutError):
                pass
            await asyncio.sleep(0.5)
        raise AssertionError("the station never booted Accepted after the broker restart")

    asyncio.run(boots_accepted())
    assert local_run.proc.poll() is None, local_run.output
    local_run.interrupt()
    assert "failed to start" not in local_run.output and "exited; see" not in local_run.output.replace(
        "(tansu) exited; see", ""
    )

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from voltline_chassis import create_app, make_server, serve


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_server_runs_service_lifespan_and_stops_gracefully(helpers) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        events.append("start")
        yield
        events.append("stop")

    port = _free_port()
    settings = helpers.make_settings(http_port=port)
    app = create_app(
        settings=settings,
        title="t",
        version="0",
        verifier=helpers.DictVerifier({}),
        readiness_checks={},
        lifespan=lifespan,
    )
    server = make_server(app, settings)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started and events == ["start"]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            response = await client.get("/healthz")
        assert response.json() == {"status": "ok"}
        assert "server" not in response.headers
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
    assert events == ["start", "stop"]


def test_failed_startup_exits_non_zero(helpers, capsys: pytest.CaptureFixture[str]) -> None:
    @asynccontextmanager
    async def broken(app: FastAPI) -> AsyncIterator[None]:
        raise ConnectionRefusedError("database unreachable")
        yield

    settings = helpers.make_settings(http_port=_free_port())
    app = create_app(
        settings=settings,
        title="t",
        version="0",
        verifier=helpers.DictVerifier({}),
        readiness_checks={},
        lifespan=broken,
    )
    with pytest.raises(SystemExit) as excinfo:
        serve(app, settings)
    assert excinfo.value.code == 3
    out = capsys.readouterr().out
    assert "database unreachable" in out


_SERVICE = textwrap.dedent(
    """
    from contextlib import asynccontextmanager
    from pydantic import SecretStr
    from voltline_chassis import ServiceSettings, StaticTokenVerifier, create_app, get_logger, serve

    @asynccontextmanager
    async def lifespan(app):
        yield
        get_logger("svc").info("resources_closed")

    settings = ServiceSettings(service_name="sigterm-svc", http_port={port}, admin_token=SecretStr("x"))
    app = create_app(settings=settings, title="t", version="0", readiness_checks={{}},
                     verifier=StaticTokenVerifier(settings.admin_token), lifespan=lifespan)
    serve(app, settings)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_shuts_down_gracefully() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVICE.format(port=port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        # Waits for /healthz, not for a guessed start-up time: a fresh interpreter importing FastAPI took over
        # 15 s at load 30. The bound only turns a service that never comes up into a failure.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail(f"service did not come up (exit code {proc.poll()})")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    # uvicorn re-raises the captured SIGTERM after a clean shutdown, so the status reports the signal.
    assert proc.returncode == -signal.SIGTERM
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    events = [line["event"] for line in lines]
    assert events.index("resources_closed") < events.index("service_stopped")
    assert all(line["service"] == "sigterm-svc" for line in lines)
    assert "Traceback" not in err


def test_a_bulk_consumer_gives_way_to_the_request_path() -> None:
    """VOLTLINE_PROCESS_NICE raises the service process's nice value (make run gives the bulk consumers 5), so
    on shared cores the gateway and auth answer an Authorize before a backlog of MeterValues is drained."""
    code = textwrap.dedent(
        """
        import os
        from voltline_chassis.runner import lower_priority
        from voltline_chassis.settings import ServiceSettings
        before = os.nice(0)
        lower_priority(ServiceSettings(service_name="t", http_port=0))
        unchanged = os.nice(0)
        os.environ["VOLTLINE_PROCESS_NICE"] = "3"
        lower_priority(ServiceSettings(service_name="t", http_port=0))
        print(unchanged - before, os.nice(0) - before)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["0", "3"]

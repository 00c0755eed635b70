"""Run a chassis app under uvicorn so each service's ``__main__`` stays three lines."""

from __future__ import annotations

import os

import uvicorn
from fastapi import FastAPI

from voltline_chassis.http_limits import guarded_protocol
from voltline_chassis.logging import configure_logging
from voltline_chassis.settings import ServiceSettings

# Exit code uvicorn's own CLI uses when lifespan startup fails.
STARTUP_FAILURE = 3


def make_server(app: FastAPI, settings: ServiceSettings, *, graceful_timeout: int = 15) -> uvicorn.Server:
    """Build (not start) the server; e2e tests can ``await server.serve()`` several in one loop."""
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # keep the chassis JSON logging instead of uvicorn's dictConfig
        access_log=False,  # the request middleware already logs one line per request
        lifespan="on",  # a failing startup must stop the process, not serve half-initialised
        timeout_graceful_shutdown=graceful_timeout,  # long-lived websockets must not block SIGTERM
        server_header=False,
        # asyncio's own unless the service asks for uvloop (`event_loop`): the gateway spent 1.24 ms of CPU per
        # station boot under uvloop in the reconnect storm benchmark, against 0.82 ms on asyncio's own loop.
        loop=settings.event_loop,
        # slow headers/bodies are cut off, except on streaming upload routes
        http=guarded_protocol(settings.http_request_timeout_s, tuple(settings.http_streaming_paths)),
        limit_concurrency=settings.http_max_connections,
    )
    return uvicorn.Server(config)


def lower_priority(settings: ServiceSettings) -> None:
    """Add `process_nice` to this process's nice value (see ServiceSettings.process_nice)."""
    if settings.process_nice:
        os.nice(settings.process_nice)


def serve(app: FastAPI, settings: ServiceSettings, *, graceful_timeout: int = 15) -> None:
    """Serve until SIGTERM/SIGINT, then drain in-flight requests and run lifespan shutdown.

    uvicorn installs the signal handlers; on shutdown it re-raises the captured signal, so the
    process exit status still reports how it was stopped.
    """
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    # What a service creates (SQLite databases and their journals) is readable by its own user only.
    os.umask(0o077)
    lower_priority(settings)
    server = make_server(app, settings, graceful_timeout=graceful_timeout)
    try:
        server.run()
    except KeyboardInterrupt:
        return  # Ctrl-C after a clean shutdown: no traceback.
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)

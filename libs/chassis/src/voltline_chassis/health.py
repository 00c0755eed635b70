"""Liveness and readiness endpoints.

``/healthz`` only says the event loop answers (restarting won't fix a dead dependency);
``/readyz`` runs the service's dependency checks so the load balancer stops routing to an
instance that cannot do its job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter
from starlette.responses import JSONResponse, Response

from voltline_chassis.logging import get_logger, scrub_secrets
from voltline_chassis.problems import Problem

ReadinessCheck = Callable[[], Awaitable[None]]
# Facts shown in /readyz that do not decide readiness (a lagging consumer is busy, not broken).
ReadinessDetail = Callable[[], Awaitable[Any]]

DEFAULT_CHECK_TIMEOUT = 2.0
# /readyz is unauthenticated: keep failure reasons short and strip credentials from DSNs.
_MAX_REASON = 200

log = get_logger(__name__)


async def _run_check(name: str, check: ReadinessCheck, limit_s: float) -> str | None:
    """Return ``None`` when healthy, else a short reason."""
    try:
        async with asyncio.timeout(limit_s):
            await check()
    except TimeoutError:
        reason = f"timed out after {limit_s:g}s"
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    else:
        return None
    reason = scrub_secrets(reason)[:_MAX_REASON]
    log.warning("readiness_check_failed", check=name, reason=reason)
    return reason


async def _details(details: Mapping[str, ReadinessDetail], limit_s: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, detail in details.items():
        try:
            async with asyncio.timeout(limit_s):
                out[name] = await detail()
        except Exception as exc:  # a detail never makes /readyz fail
            out[name] = f"unavailable: {type(exc).__name__}"
    return out


async def evaluate_readiness(checks: Mapping[str, ReadinessCheck], limit_s: float) -> dict[str, str | None]:
    """Run every check concurrently: ``{name: None}`` when healthy, else ``{name: reason}``."""
    names = list(checks)
    reasons = await asyncio.gather(*(_run_check(n, checks[n], limit_s) for n in names))
    return dict(zip(names, reasons, strict=True))


def health_router(
    checks: Mapping[str, ReadinessCheck],
    timeout: float = DEFAULT_CHECK_TIMEOUT,
    details: Mapping[str, ReadinessDetail] | None = None,
) -> APIRouter:
    """Build the ``/healthz`` + ``/readyz`` router for the given checks (and informational details)."""
    router = APIRouter(tags=["ops"])
    frozen = dict(checks)
    extras = dict(details or {})

    @router.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        names = list(frozen)
        results = await evaluate_readiness(frozen, timeout)
        failed = {name: reason for name, reason in results.items() if reason is not None}
        info = {"details": await _details(extras, timeout)} if extras else {}
        if not failed:
            return JSONResponse({"status": "ready", "checks": {name: "ok" for name in names}, **info})
        summary = "; ".join(f"{name}: {reason}" for name, reason in failed.items())
        problem = Problem(
            503,
            f"Not ready, failing check(s): {summary}",
            extra={
                "checks": {n: "ok" if r is None else f"failed: {r}" for n, r in results.items()},
                "failed": sorted(failed),
                **info,
            },
        )
        return problem.to_response("/readyz")

    return router

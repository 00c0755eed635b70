from __future__ import annotations

import asyncio
import time

import httpx
from voltline_chassis import PROBLEM_MEDIA_TYPE
from voltline_devinfra.waiting import eventually


async def _ok() -> None:
    return None


async def _refused() -> None:
    raise ConnectionRefusedError("connect to postgresql://voltline:s3cretpw@db:5432/billing refused")


async def _hangs() -> None:
    await asyncio.sleep(10)


async def test_healthz_needs_no_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_ok_lists_every_check(app_factory) -> None:
    app = app_factory(readiness_checks={"database": _ok, "kafka": _ok})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "kafka": "ok"}}


async def test_readyz_failure_names_the_check_and_hides_credentials(app_factory) -> None:
    app = app_factory(readiness_checks={"database": _refused, "kafka": _ok})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["status"] == 503
    assert body["failed"] == ["database"]
    assert body["checks"]["kafka"] == "ok"
    assert body["checks"]["database"].startswith("failed: ConnectionRefusedError")
    assert "database" in body["detail"] and "kafka" not in body["detail"]
    assert "s3cretpw" not in response.text


async def test_readyz_times_out_slow_checks_concurrently(app_factory) -> None:
    app = app_factory(readiness_checks={"kafka": _hangs, "database": _hangs, "cache": _ok}, readiness_timeout=0.2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        started = time.perf_counter()
        response = await client.get("/readyz")
        elapsed = time.perf_counter() - started
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["database", "kafka"]
    assert body["checks"]["kafka"] == "failed: timed out after 0.2s"
    assert body["checks"]["cache"] == "ok"
    assert elapsed < 0.39, "checks must run concurrently, not one timeout after another"


async def test_docs_and_openapi_are_public(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    spec = (await client.get("/openapi.json")).json()
    assert spec["info"] == {"title": "Test service", "version": "1.2.3"}
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    post = spec["paths"]["/api/v1/sessions"]["post"]
    assert post["security"] == [{"HTTPBearer": []}]
    # Validation errors are documented as what the app really returns: problem+json.
    assert set(post["responses"]["422"]["content"]) == {PROBLEM_MEDIA_TYPE}
    assert "/healthz" not in spec["paths"]


async def _scrape_until(client: httpx.AsyncClient, line: str) -> None:
    async def scraped() -> bool:
        return line in (await client.get("/metrics")).text

    await eventually(scraped, 10, what=f"a scrape showing {line!r}")


async def test_metrics_export_readiness_per_scrape(app_factory) -> None:
    """`voltline_service_ready` follows the checks, re-run as /metrics is scraped, so Prometheus can alert."""
    state = {"up": False}

    async def flips() -> None:
        if not state["up"]:
            raise ConnectionRefusedError("database down")

    app = app_factory(readiness_checks={"database": flips}, readiness_metric_every_s=0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        await _scrape_until(client, 'voltline_service_ready{service="test-svc"} 0.0')
        state["up"] = True
        await _scrape_until(client, 'voltline_service_ready{service="test-svc"} 1.0')


async def test_a_hanging_check_does_not_hold_up_the_scrape(app_factory) -> None:
    """A scrape that timed out would read as "service down"; the readiness re-check runs beside it."""
    app = app_factory(readiness_checks={"kafka": _hangs}, readiness_timeout=5)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        began = time.monotonic()
        assert (await client.get("/metrics")).status_code == 200
        assert time.monotonic() - began < 2


async def test_readiness_metric_is_not_re_evaluated_at_every_scrape(app_factory) -> None:
    """A broker check opens a connection: frequent scrapes reuse the last result for a while."""
    calls = []

    async def counted() -> None:
        calls.append(1)

    app = app_factory(readiness_checks={"kafka": counted}, readiness_metric_every_s=3600)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        for _ in range(200):
            await client.get("/metrics")
            if calls:
                break
            await asyncio.sleep(0.01)
        for _ in range(3):
            await client.get("/metrics")
            await asyncio.sleep(0.01)
    assert len(calls) == 1

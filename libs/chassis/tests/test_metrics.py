from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter
from prometheus_client.parser import text_string_to_metric_families
from voltline_chassis import Principal, counter, create_app, histogram


def _sample(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return None


async def test_metrics_endpoint_counts_requests_by_route_template(client: httpx.AsyncClient, helpers) -> None:
    labels = {"service": "test-svc", "method": "GET", "route": "/api/v1/stations/{station_id}", "status": "404"}
    before = _sample((await client.get("/metrics")).text, "voltline_http_requests_total", **labels) or 0.0
    await client.get("/api/v1/stations/CP-1", headers=helpers.bearer(helpers.VIEWER))
    await client.get("/api/v1/stations/CP-2", headers=helpers.bearer(helpers.VIEWER))
    await client.get("/definitely/unknown")

    response = await client.get("/metrics")  # no token needed
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert _sample(text, "voltline_http_requests_total", **labels) == before + 2
    unmatched = _sample(text, "voltline_http_requests_total", route="<unmatched>", status="404")
    assert unmatched is not None and unmatched >= 1
    assert "/definitely/unknown" not in text, "raw paths must not become label values"
    assert (
        _sample(
            text,
            "voltline_http_request_duration_seconds_count",
            service="test-svc",
            route="/api/v1/stations/{station_id}",
        )
        or 0
    ) >= 2
    assert _sample(text, "voltline_service_info", service="test-svc", version="1.2.3") == 1.0


async def test_rejected_requests_are_counted(client: httpx.AsyncClient) -> None:
    await client.get("/api/v1/stations")
    text = (await client.get("/metrics")).text
    assert (_sample(text, "voltline_http_requests_total", service="test-svc", status="401") or 0) >= 1


async def test_many_apps_in_one_process(app_factory) -> None:
    """Metrics are registered once per process, not per app (a second app would raise "Duplicated timeseries");
    both apps count into them."""
    for app in (app_factory(), app_factory()):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            await client.get("/api/v1/stations")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app_factory()), base_url="http://t") as client:
        before = _sample((await client.get("/metrics")).text, "voltline_http_requests_total", service="test-svc",
                         status="401")  # fmt: skip
        await client.get("/api/v1/stations")
        after = _sample((await client.get("/metrics")).text, "voltline_http_requests_total", service="test-svc",
                        status="401")  # fmt: skip
    assert before is not None and before >= 2 and after == before + 1


def test_get_or_create_metrics() -> None:
    first = counter("voltline_test_widgets_total", "Widgets.", ["kind"])
    assert counter("voltline_test_widgets_total", "Widgets.", ["kind"]) is first
    with pytest.raises(ValueError):
        counter("voltline_test_widgets_total", "Widgets.", ["other"])
    with pytest.raises(ValueError):
        histogram("voltline_test_widgets_total", "Widgets.", ["kind"])


async def test_route_label_is_full_template_for_nested_routers(helpers) -> None:
    outer = APIRouter(prefix="/tenants/{tenant}")
    inner = APIRouter(prefix="/chargers")

    @inner.get("/{charger_id}/connectors/{connector:int}")
    async def connector(tenant: str, charger_id: str, connector: int) -> dict[str, int]:
        return {"connector": connector}

    outer.include_router(inner)
    app = create_app(
        settings=helpers.make_settings(service_name="nested-svc"),
        title="t",
        version="0",
        verifier=helpers.DictVerifier({"k": Principal("p", frozenset({"viewer"}))}),
        readiness_checks={},
        routers=[outer],
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        ok = await client.get("/api/v1/tenants/acme/chargers/CP-1/connectors/2", headers=helpers.bearer("k"))
        assert ok.status_code == 200
        await client.get("/docs")
        text = (await client.get("/metrics")).text
    template = "/api/v1/tenants/{tenant}/chargers/{charger_id}/connectors/{connector}"
    assert _sample(text, "voltline_http_requests_total", service="nested-svc", route=template) == 1.0
    assert _sample(text, "voltline_http_requests_total", service="nested-svc", route="/docs") == 1.0
    assert "acme" not in text and "CP-1" not in text

from __future__ import annotations

import httpx
import pytest
from voltline_chassis import PROBLEM_MEDIA_TYPE, Problem


async def test_invalid_body_is_422_naming_each_field(client: httpx.AsyncClient, helpers) -> None:
    response = await client.post("/api/v1/sessions", json={"connector_id": 0}, headers=helpers.bearer(helpers.OPERATOR))
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    fields = {item["field"]: item for item in body["errors"]}
    assert set(fields) == {"body.station_id", "body.connector_id"}
    assert fields["body.station_id"]["type"] == "missing"
    assert "greater than or equal to 1" in fields["body.connector_id"]["message"]
    assert body["detail"].startswith("The request has 2 invalid fields.")
    assert "body.station_id: Field required" in body["detail"]
    assert body["instance"] == "/api/v1/sessions"


async def test_malformed_json_is_422_on_body(client: httpx.AsyncClient, helpers) -> None:
    response = await client.post(
        "/api/v1/sessions",
        content=b'{"station_id": ',
        headers={**helpers.bearer(helpers.ADMIN), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "body"
    assert "not valid JSON" in error["message"]


async def test_validation_errors_do_not_echo_input(client: httpx.AsyncClient, helpers) -> None:
    response = await client.post(
        "/api/v1/sessions",
        json={"station_id": "CP-1", "connector_id": "password-like-value"},
        headers=helpers.bearer(helpers.ADMIN),
    )
    assert response.status_code == 422
    assert "password-like-value" not in response.text


async def test_unknown_route_is_problem_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "No endpoint matches GET /nope.",
        "instance": "/nope",
    }


async def test_wrong_method_is_problem_405(client: httpx.AsyncClient) -> None:
    response = await client.post("/healthz")
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json()["detail"] == "POST is not allowed on /healthz; allowed: GET."


async def test_problem_raised_by_handler(client: httpx.AsyncClient, helpers) -> None:
    response = await client.get("/api/v1/stations/CP-7", headers=helpers.bearer(helpers.VIEWER))
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["detail"] == "Station CP-7 is not registered."
    assert body["station_id"] == "CP-7"


async def test_unexpected_exception_is_opaque_500_and_logged(
    client: httpx.AsyncClient, helpers, capsys: pytest.CaptureFixture[str]
) -> None:
    response = await client.get("/api/v1/boom", headers=helpers.bearer(helpers.ADMIN))
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    request_id = response.headers["x-request-id"]
    body = response.json()
    assert body["title"] == "Internal Server Error"
    assert request_id in body["detail"]
    assert "internals" not in response.text and "Traceback" not in response.text

    lines = helpers.log_lines(capsys.readouterr().out)
    [error] = [line for line in lines if line["event"] == "unhandled_exception"]
    assert error["level"] == "error" and error["request_id"] == request_id
    assert "RuntimeError" in error["exception"] and "Traceback" in error["exception"]
    assert "hunter2" not in error["exception"], "free-text secrets are masked, even in tracebacks"
    [access] = [line for line in lines if line["event"] == "http_request"]
    assert access["status"] == 500


def test_problem_rejects_reserved_extension_names() -> None:
    with pytest.raises(ValueError):
        Problem(400, "x", extra={"status": 418})
    assert Problem(409).to_dict() == {"type": "about:blank", "title": "Conflict", "status": 409}

"""Every route documents what it returns, so clients can be generated from the OpenAPI."""

from __future__ import annotations

from pydantic import SecretStr
from voltline_chassis.schemas import untyped_responses
from voltline_diagnostics.bootstrap import build
from voltline_diagnostics.settings import DiagnosticsSettings


def test_every_route_has_a_response_schema(sqlite_url: str) -> None:
    app = build(DiagnosticsSettings(database_url=sqlite_url, admin_token=SecretStr("openapi-test-token-0123456789")))
    assert untyped_responses(app.openapi()) == []

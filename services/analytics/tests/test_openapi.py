"""Every route documents what it returns, so clients can be generated from the OpenAPI."""

from __future__ import annotations

from pydantic import SecretStr
from voltline_analytics.bootstrap import build
from voltline_analytics.settings import AnalyticsSettings
from voltline_chassis.schemas import untyped_responses


def test_every_route_has_a_response_schema(sqlite_url: str) -> None:
    app = build(AnalyticsSettings(database_url=sqlite_url, admin_token=SecretStr("openapi-test-token-0123456789")))
    assert untyped_responses(app.openapi()) == []

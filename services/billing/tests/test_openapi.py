"""Every route documents what it returns, so clients can be generated from the OpenAPI."""

from __future__ import annotations

from pydantic import SecretStr
from voltline_billing.adapters.sandbox_provider import SandboxProvider
from voltline_billing.bootstrap import build
from voltline_billing.settings import BillingSettings
from voltline_chassis.schemas import untyped_responses


def test_every_route_has_a_response_schema(sqlite_url: str) -> None:
    settings = BillingSettings(database_url=sqlite_url, admin_token=SecretStr("openapi-test-token-0123456789"))
    app = build(settings, provider=SandboxProvider())
    assert untyped_responses(app.openapi()) == []

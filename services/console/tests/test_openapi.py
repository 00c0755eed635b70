"""Every route documents what it returns, so clients can be generated from the OpenAPI."""

from __future__ import annotations

from pydantic import SecretStr
from voltline_chassis.schemas import untyped_responses
from voltline_console.bootstrap import build
from voltline_console.settings import ConsoleSettings


def test_every_route_has_a_response_schema() -> None:
    app = build(ConsoleSettings(admin_token=SecretStr("openapi-test-token-0123456789")))
    assert untyped_responses(app.openapi()) == []

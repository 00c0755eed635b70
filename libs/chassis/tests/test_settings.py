from __future__ import annotations

import pytest
from pydantic import ValidationError
from voltline_chassis import ServiceSettings


class BillingSettings(ServiceSettings):
    service_name: str = "billing"
    http_port: int = 8083
    database_url: str | None = "postgresql+asyncpg://voltline:pw@127.0.0.1:5432/billing"
    currency: str = "EUR"


def test_subclass_reads_voltline_prefixed_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOLTLINE_HTTP_PORT", "9100")
    monkeypatch.setenv("VOLTLINE_CURRENCY", "SEK")
    monkeypatch.setenv("VOLTLINE_KAFKA_IDEMPOTENCE", "false")
    monkeypatch.setenv("VOLTLINE_LOG_LEVEL", "debug")
    monkeypatch.setenv("CURRENCY", "USD")  # unprefixed variables are ignored
    settings = BillingSettings()
    assert settings.http_port == 9100
    assert settings.currency == "SEK"
    assert settings.kafka_idempotence is False
    assert settings.log_level == "DEBUG"
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.http_host == "127.0.0.1"
    assert settings.log_json is True


def test_secrets_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOLTLINE_ADMIN_TOKEN", "tok-very-secret")
    settings = BillingSettings()
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == "tok-very-secret"
    for rendering in (repr(settings), str(settings), settings.model_dump_json()):
        assert "tok-very-secret" not in rendering
    assert "pw@" not in repr(settings)


def test_instance_id_stable_per_process() -> None:
    assert BillingSettings().instance_id == BillingSettings().instance_id != ""


def test_required_fields_and_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError):
        ServiceSettings()  # type: ignore[call-arg]  # service_name and http_port have no default
    monkeypatch.setenv("VOLTLINE_LOG_LEVEL", "chatty")
    with pytest.raises(ValidationError):
        BillingSettings()

"""Broker authentication settings reach every aiokafka client the same way (docs/security.md)."""

from __future__ import annotations

import ssl

import pytest
from voltline_bus import BusConfig


def test_plaintext_by_default() -> None:
    assert BusConfig("k:9092", "c").connection() == {"bootstrap_servers": "k:9092", "security_protocol": "PLAINTEXT"}


def test_sasl_ssl_with_scram() -> None:
    config = BusConfig(
        "k:9093", "c", security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", sasl_username="gateway",
        sasl_password="s3cret-s3cret",
    )  # fmt: skip
    kwargs = config.connection()
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512" and kwargs["sasl_plain_username"] == "gateway"
    assert isinstance(kwargs["ssl_context"], ssl.SSLContext)
    assert "s3cret" not in repr(config)


def test_sasl_without_credentials_is_refused() -> None:
    with pytest.raises(ValueError, match="SASL"):
        BusConfig("k:9092", "c", security_protocol="SASL_PLAINTEXT").connection()

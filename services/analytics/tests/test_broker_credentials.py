"""The faust worker authenticates to the broker as every other voltline client does (docs/security.md)."""

from __future__ import annotations

import faust
from voltline_analytics.adapters.faust_worker import broker_credentials
from voltline_bus import BusConfig


def test_plaintext_needs_no_credentials() -> None:
    assert broker_credentials(BusConfig("k:9092", "analytics")) is None


def test_sasl_over_tls_reaches_faust_with_user_mechanism_and_tls() -> None:
    bus = BusConfig(
        "k:9093", "analytics", security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
        sasl_username="analytics", sasl_password="s3cret-s3cret",
    )  # fmt: skip
    credentials = broker_credentials(bus)
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password) == ("analytics", "s3cret-s3cret")
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.protocol.value == "SASL_SSL" and credentials.ssl_context is not None

"""The cheap fixtures and the external-broker stand-in."""

from __future__ import annotations

import re

import pytest
from voltline_devinfra.pytest_plugin import ExternalKafka


def test_topic_prefix_is_unique_per_test(topic_prefix: str) -> None:
    assert re.fullmatch(r"t-[0-9a-f]{8}\.", topic_prefix)


def test_external_kafka_cannot_pause() -> None:
    broker = ExternalKafka("127.0.0.1:9092")
    assert broker.bootstrap_servers == "127.0.0.1:9092"
    with pytest.raises(pytest.skip.Exception):
        broker.pause()
    with pytest.raises(pytest.skip.Exception):
        broker.resume()


def test_external_kafka_has_the_servers_host_and_port() -> None:
    """Tests probe `kafka.host`/`kafka.port` (the metadata probe): the stand-in has them too, from the first server."""
    broker = ExternalKafka("127.0.0.1:19537,other:9092")
    assert (broker.host, broker.port) == ("127.0.0.1", 19537)
    assert (ExternalKafka("[::1]:9093").host, ExternalKafka("[::1]:9093").port) == ("::1", 9093)

"""Exceptions raised by voltline_bus; aiokafka's own errors are wrapped, never leaked bare."""

from __future__ import annotations


class BusError(Exception):
    """Base of every voltline_bus error."""


class BrokerUnavailable(BusError):
    """Kafka could not be reached (or kept failing) until the connect deadline passed."""


class TopicSetupError(BusError):
    """The broker refused to create a topic for a non-transient reason."""


class PublishError(BusError):
    """The broker did not acknowledge a message; the caller decides whether to retry."""

    def __init__(self, message: str, *, topic: str, failed: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.topic = topic
        # For publish_many: positions (in the input order) of the messages that were not acknowledged.
        self.failed = failed


class RequestTimeout(BusError, TimeoutError):
    """No reply arrived within the request's timeout; callers apply their documented fallback."""

    def __init__(self, message: str, *, correlation_id: str) -> None:
        super().__init__(message)
        self.correlation_id = correlation_id

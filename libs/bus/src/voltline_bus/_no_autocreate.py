"""Clients never create topics by asking for their metadata.

aiokafka asks for metadata with `allow_auto_topic_creation` true, so a broker that auto-creates (tansu always
does, with 4 partitions; Kafka unless `auto.create.topics.enable=false`) would create a topic the moment a
producer or consumer names it, with the broker's defaults rather than its declaration in
`voltline_events.topics`. Topics are created only by `ensure_topics`, from their declarations.
"""

from __future__ import annotations

from typing import Any

from aiokafka.protocol.metadata import MetadataRequest

_original_init = MetadataRequest.__init__


def _init(self: MetadataRequest, topics: list[str] | None = None, allow_auto_topic_creation: Any = None) -> None:
    _original_init(self, topics, False if allow_auto_topic_creation is None else allow_auto_topic_creation)


def install() -> None:
    """Idempotent; done when voltline_bus is imported."""
    MetadataRequest.__init__ = _init

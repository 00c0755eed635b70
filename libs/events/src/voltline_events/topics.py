"""Every topic name, how it is created, and partition keys, in one place.

Charger traffic is keyed by station id so that one station's messages stay in order on one partition.
A prefix (setting `VOLTLINE_TOPIC_PREFIX`) lets several systems, or several tests, share one cluster.

`DECLARED` says, next to each name, how many partitions a topic has, whether it is compacted and how long
it keeps records. Whichever service starts first creates a topic from it (`voltline_bus.ensure_topics`
looks every name up here, whatever the caller asked), so the order services start in never matters, and
brokers must not create topics on their own (auto-creation is off everywhere). Partitions bound how many
replicas of a consuming service share the work: docs/scaling.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DLQ_SUFFIX = ".dlq"
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class TopicConfig:
    """How a topic is created: partitions (the most replicas of one consumer group that get work),
    compaction (keep the latest record per key, for tables) and retention (None: the broker's default)."""

    partitions: int
    compacted: bool = False
    retention_ms: int | None = None


# One line per topic (name without the prefix). A new topic: add its line here and a property below.
DECLARED: dict[str, TopicConfig] = {
    "voltline.station.events.v1": TopicConfig(partitions=6),
    "voltline.station.lifecycle.v1": TopicConfig(partitions=6),
    "voltline.station.commands.v1": TopicConfig(partitions=6, retention_ms=HOUR_MS),
    "voltline.auth.requests.v1": TopicConfig(partitions=6, retention_ms=HOUR_MS),
    "voltline.auth.station-registry.v1": TopicConfig(partitions=3, compacted=True),
    "voltline.auth.api-keys.v1": TopicConfig(partitions=1, compacted=True),
    "voltline.auth.decisions.v1": TopicConfig(partitions=3, compacted=True),
    "voltline.gateway.presence.v1": TopicConfig(partitions=6, compacted=True),
    "voltline.session.events.v1": TopicConfig(partitions=6),
    "voltline.billing.events.v1": TopicConfig(partitions=6),
    "voltline.billing.tariffs.v1": TopicConfig(partitions=1, compacted=True),
    "voltline.diagnostics.events.v1": TopicConfig(partitions=6),
}
# What the station lifecycle topic carries (ADR 0037): copies, made by the gateway, of these station events.
LIFECYCLE_EVENT_TYPES = frozenset(
    {"station.connected", "station.boot_notification", "station.disconnected", "station.authorize_answered"}
)
_REPLIES = re.compile(r"voltline\.[a-z0-9-]+\.replies\.[^.]+$")
# Topics named per instance or derived from another: replies (worthless after their timeout) and dead letters.
REPLIES = TopicConfig(partitions=1, retention_ms=HOUR_MS)
DEAD_LETTERS = TopicConfig(partitions=1)


def declared(name: str) -> TopicConfig | None:
    """The declaration of a full topic name (any prefix), or None for a topic voltline does not own."""
    if name.endswith(DLQ_SUFFIX):
        return DEAD_LETTERS if declared(name[: -len(DLQ_SUFFIX)]) is not None else None
    for base, config in DECLARED.items():
        if name.endswith(base):
            return config
    return REPLIES if _REPLIES.search(name) else None


@dataclass(frozen=True)
class Topics:
    prefix: str = ""

    def _name(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @property
    def station_events(self) -> str:
        """Everything a station sent, as typed events, keyed by station id."""
        return self._name("voltline.station.events.v1")

    @property
    def station_lifecycle(self) -> str:
        """A copy of the rare station events (`LIFECYCLE_EVENT_TYPES`: connected, booted, disconnected, Authorize
        answers), same envelope and event id as on `station_events`, keyed by station id: for consumers that need
        only these (auth's presence and audit) without fetching every meter reading (ADR 0037)."""
        return self._name("voltline.station.lifecycle.v1")

    @property
    def station_registry(self) -> str:
        """The auth service's station registry, compacted, keyed by station id."""
        return self._name("voltline.auth.station-registry.v1")

    @property
    def api_keys(self) -> str:
        """Operator API keys (hash and role, never the key), compacted, keyed by key id; other services verify
        bearer tokens from a local copy of it."""
        return self._name("voltline.auth.api-keys.v1")

    @property
    def auth_decisions(self) -> str:
        """The auth service's Authorize answers per id token value (auth.token_decisions), compacted, keyed by
        the normalised value; gateways answer Authorize from a local copy of it (ADR 0015)."""
        return self._name("voltline.auth.decisions.v1")

    @property
    def auth_requests(self) -> str:
        """Decisions the gateway asks of the auth service (boot, authorize), keyed by station id."""
        return self._name("voltline.auth.requests.v1")

    @property
    def station_commands(self) -> str:
        """Commands for stations (request/reply), keyed by station id; gateways execute them."""
        return self._name("voltline.station.commands.v1")

    @property
    def gateway_presence(self) -> str:
        """Which gateway instance holds which station, compacted, keyed by station id."""
        return self._name("voltline.gateway.presence.v1")

    @property
    def sessions(self) -> str:
        """session.started / updated / ended, keyed by station id."""
        return self._name("voltline.session.events.v1")

    @property
    def billing(self) -> str:
        """billing.cdr_created and other billing events, keyed by station id."""
        return self._name("voltline.billing.events.v1")

    @property
    def tariffs(self) -> str:
        """Billing's tariffs and their assignments as a table (compacted): `tariff:<id>:<version>`,
        `assignment:station:<id>`, `assignment:group:<id>`, `assignment:default`; republished at billing's start."""
        return self._name("voltline.billing.tariffs.v1")

    @property
    def diagnostics(self) -> str:
        """diagnostics.alert_opened / alert_resolved, connector status and station health changes, keyed by
        station id."""
        return self._name("voltline.diagnostics.events.v1")

    def service_replies(self, service: str, instance_id: str) -> str:
        """Replies to one service instance's requests (e.g. command results for the session service)."""
        return self._name(f"voltline.{service}.replies.{instance_id}")

    def gateway_replies(self, instance_id: str) -> str:
        """Replies to one gateway instance's requests; each instance reads only its own."""
        return self._name(f"voltline.gateway.replies.{instance_id}")

    @staticmethod
    def dead_letter(topic: str) -> str:
        """Where a consumer parks a message it could not handle after its retries."""
        return f"{topic}{DLQ_SUFFIX}"


def station_key(station_id: str) -> bytes:
    """Partition key for anything about one station."""
    return station_id.encode()

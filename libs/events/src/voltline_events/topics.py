"""Every topic name and partition key in one place.

Charger traffic is keyed by station id so that one station's messages stay in order on one partition.
A prefix (setting `VOLTLINE_TOPIC_PREFIX`) lets several systems, or several tests, share one cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

DLQ_SUFFIX = ".dlq"


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
    def station_registry(self) -> str:
        """The auth service's station registry, compacted, keyed by station id."""
        return self._name("voltline.auth.station-registry.v1")

    @property
    def api_keys(self) -> str:
        """Operator API keys (hash and role, never the key), compacted, keyed by key id; other services verify
        bearer tokens from a local copy of it."""
        return self._name("voltline.auth.api-keys.v1")

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

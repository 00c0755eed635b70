"""Connection settings shared by every bus client (producer, consumer, admin, request/reply)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BusConfig:
    """How to reach Kafka.

    `idempotence` must be off against the tansu dev broker, which refuses InitProducerId;
    `replication_factor` is used only when creating topics (1 for a single-broker cluster).
    """

    bootstrap: str
    client_id: str
    idempotence: bool = True
    linger_ms: int = 5
    request_timeout_ms: int = 30000
    replication_factor: int = 1
    # How long start()/ensure_topics() keep retrying while the broker is not reachable yet: by default for as
    # long as it takes (a supervisor restarts the broker; a service that gave up would only add to the outage).
    connect_timeout: float = float("inf")
    # Consumer-group session timeout. tansu holds a group's first join for half of it, so `make run`
    # lowers it; real Kafka refuses values below its group.min.session.timeout.ms (6 s by default).
    session_timeout_ms: int = 10_000
    # Static membership (KIP-345): an instance that comes back under the same id within the session timeout
    # gets its partitions back without a rebalance. Only for stable instance ids (StatefulSet pods); a
    # static member does not leave the group on stop, so its partitions wait out the session timeout.
    group_instance_id: str | None = None

    def heartbeat_interval_ms(self) -> int:
        """A third of the session timeout (Kafka's advice), at most 3 s: survivors of a crash learn of the
        rebalance at their next heartbeat, so this bounds how long their partitions wait for it."""
        return max(100, min(3_000, self.session_timeout_ms // 3))

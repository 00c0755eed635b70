"""Connection settings shared by every bus client (producer, consumer, admin, request/reply)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any


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
    # How long the broker may hold a fetch of a reader someone waits on (request consumers, reply readers).
    # tansu sleeps through part of it even when records are there (bench/request_reply): aiokafka's default
    # of 500 ms cost a request and its reply 250-500 ms each way under `make run`.
    request_fetch_wait_ms: int = 10

    def heartbeat_interval_ms(self) -> int:
        """A third of the session timeout (Kafka's advice), at most 3 s: survivors of a crash learn of the
        rebalance at their next heartbeat, so this bounds how long their partitions wait for it."""
        return max(100, min(3_000, self.session_timeout_ms // 3))

    # Broker authentication (docs/security.md): PLAINTEXT (dev), SASL_PLAINTEXT or SASL_SSL with SCRAM or PLAIN.
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None  # SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: str | None = None  # SASL_SSL: the CA of the brokers' certificates (default: the system's)

    def __repr__(self) -> str:  # never print the broker password
        return f"BusConfig(bootstrap={self.bootstrap!r}, client_id={self.client_id!r}, user={self.sasl_username!r})"

    def connection(self) -> dict[str, Any]:
        """The keyword arguments every aiokafka client takes to reach and authenticate to the brokers."""
        kwargs: dict[str, Any] = {"bootstrap_servers": self.bootstrap, "security_protocol": self.security_protocol}
        if self.security_protocol.startswith("SASL"):
            if not (self.sasl_mechanism and self.sasl_username and self.sasl_password):
                raise ValueError("SASL needs a mechanism, a user name and a password")
            kwargs |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.sasl_password,
            }
        if self.security_protocol.endswith("SSL"):
            kwargs["ssl_context"] = ssl.create_default_context(cafile=self.ssl_cafile)
        return kwargs

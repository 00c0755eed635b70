"""The analytics worker on faust-streaming: one agent reads the session, billing and station topics in batches
(`stream.take`) and applies each batch to the store in one transaction.

Faust runs the consumer group, batching, offset commits and rebalancing; the event-time windows are ours
(docs/adr/0009-analytics-on-faust-with-sql-windows.md says why not faust's windowed tables). Faust acks a
taken batch when the loop body returns, even after an exception, so the body never raises: a failing
batch is retried, then applied event by event, and an event that still fails goes to `<topic>.dlq`.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faust
from pydantic import ValidationError
from voltline_bus import BusConfig, Producer
from voltline_events import Envelope

from voltline_analytics.adapters.failures import ApplyBatch, apply_or_park, park


def broker_credentials(bus: BusConfig) -> faust.types.auth.CredentialsT | None:
    """The broker authentication every other voltline client uses (`BusConfig.connection()`), in faust's terms."""
    kwargs = bus.connection()
    protocol = kwargs["security_protocol"]
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=kwargs["sasl_plain_username"],
            password=kwargs["sasl_plain_password"],
            mechanism=kwargs["sasl_mechanism"],
            ssl_context=kwargs.get("ssl_context"),
        )
    if protocol == "SSL":
        return faust.SSLCredentials(kwargs["ssl_context"])
    return None


class FaustWorker:
    def __init__(
        self,
        *,
        group_id: str,
        bootstrap: str,
        topics: Sequence[str],
        credentials: faust.types.auth.CredentialsT | None = None,
        apply_batch: ApplyBatch,
        dead_letter: Producer,
        datadir: Path | None,
        batch_max: int = 2000,
        batch_within_s: float = 0.5,
        attempts: int = 3,
        session_timeout_s: float = 60.0,
        heartbeat_interval_s: float = 3.0,
    ) -> None:
        self._apply = apply_batch
        self._dead_letter = dead_letter
        self._attempts = attempts
        self._app: faust.App | None = None
        self._scratch: Path | None = None
        self._credentials = credentials
        self._config: dict[str, Any]
        self._config = dict(group_id=group_id, bootstrap=bootstrap, topics=list(topics), datadir=datadir,
                            batch_max=batch_max, batch_within_s=batch_within_s)  # fmt: skip
        # Faust's own default is 60 s: a killed replica's partitions would wait a minute (docs/scaling.md).
        self._session_timeout_s = session_timeout_s
        self._heartbeat_interval_s = heartbeat_interval_s

    async def start(self) -> None:
        """Build the faust app inside the running loop (so it binds to it) and start its consumer."""
        c = self._config
        if c["datadir"] is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="voltline-analytics-faust-"))
            c["datadir"] = self._scratch
        app = faust.App(
            c["group_id"],
            broker=[f"kafka://{h.strip()}" for h in c["bootstrap"].split(",")],
            broker_credentials=self._credentials,
            store="memory://",
            datadir=str(c["datadir"]),
            web_enabled=False,
            autodiscover=False,
            consumer_auto_offset_reset="earliest",
            broker_commit_interval=1.0,
            producer_acks=-1,
            topic_allow_declare=True,
            broker_session_timeout=self._session_timeout_s,
            broker_heartbeat_interval=self._heartbeat_interval_s,
        )
        topic = app.topic(*c["topics"], key_serializer="raw", value_serializer="raw")

        async def agent(stream: Any) -> None:
            async for batch in stream.take_events(c["batch_max"], within=c["batch_within_s"]):
                await self._handle(batch)

        app.agent(topic, name="analytics-kpis", concurrency=1)(agent)
        self._app = app
        await app.start()

    async def stop(self) -> None:
        if self._app is not None:
            await self._app.stop()
            self._app = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._config["datadir"] = self._scratch = None

    async def _handle(self, events: Sequence[Any]) -> None:
        envelopes: list[tuple[Envelope, Any]] = []
        for event in events:
            raw = event.value
            if raw is None:
                continue  # a tombstone
            try:
                envelopes.append((Envelope.from_bytes(raw), event))
            except (ValidationError, ValueError) as exc:
                await self._park(event, f"not an envelope: {exc}")
        await apply_or_park(self._apply, envelopes, self._park, self._attempts)

    async def _park(self, event: Any, reason: str) -> None:
        message = event.message
        await park(self._dead_letter, topic=message.topic, partition=message.partition, offset=message.offset,
                   value=message.value, key=message.key, reason=reason)  # fmt: skip

"""Idempotent topic creation, run by every service at startup before it produces or consumes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    InvalidConfigurationError,
    InvalidRequestError,
    KafkaError,
    PolicyViolationError,
    TopicAlreadyExistsError,
    UnsupportedVersionError,
    for_code,
)
from voltline_events.topics import declared

from voltline_bus._retry import Backoff, is_transient, retry_until_reachable
from voltline_bus.config import BusConfig
from voltline_bus.errors import BrokerUnavailable, TopicSetupError
from voltline_bus.ready import check_broker as check_broker  # its old home: kept importable from here

log = structlog.get_logger()

# Errors that mean "this broker does not do topic configs" rather than "this topic is wrong".
_CONFIG_REFUSED = (InvalidConfigurationError, InvalidRequestError, PolicyViolationError, UnsupportedVersionError)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 1
    compacted: bool = False
    retention_ms: int | None = None

    @classmethod
    def of(cls, name: str) -> TopicSpec:
        """The spec `voltline_events.topics.DECLARED` gives this name (ValueError for an undeclared one)."""
        config = declared(name)
        if config is None:
            raise ValueError(f"topic {name!r} is not declared in voltline_events.topics.DECLARED")
        return cls(name, config.partitions, config.compacted, config.retention_ms)

    def as_declared(self) -> TopicSpec:
        """What the declaration says for this name, whatever was asked; itself for an undeclared topic."""
        config = declared(self.name)
        if config is None:
            return self
        return TopicSpec(self.name, config.partitions, config.compacted, config.retention_ms)

    def configs(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.compacted:
            out["cleanup.policy"] = "compact"
        if self.retention_ms is not None:
            out["retention.ms"] = str(self.retention_ms)
        return out


async def _connect_admin(config: BusConfig, what: str) -> AIOKafkaAdminClient:
    async def connect() -> AIOKafkaAdminClient:
        admin = AIOKafkaAdminClient(
            **config.connection(),
            client_id=f"{config.client_id}-admin",
            request_timeout_ms=config.request_timeout_ms,
        )
        try:
            await admin.start()
        except BaseException:
            await admin.close()
            raise
        return admin

    return await retry_until_reachable(
        connect, what=what, bootstrap=config.bootstrap, give_up_after=config.connect_timeout
    )


async def partitions_of(config: BusConfig, topic: str) -> set[int]:
    """The partition ids of an existing topic, from the broker (a client's cached metadata may not know a
    topic created a moment ago). Waits up to `config.connect_timeout` for its partitions to have leaders."""
    deadline = time.monotonic() + config.connect_timeout
    admin = await _connect_admin(config, f"partitions of {topic}")
    found: set[int] = set()

    async def described() -> bool:
        [entry] = await admin.describe_topics([topic])
        found.clear()
        found.update(p["partition"] for p in entry["partitions"] if p["error_code"] == 0 and p["leader"] >= 0)
        return entry["error_code"] == 0 and bool(found) and len(found) == len(entry["partitions"])

    try:
        await _until(deadline, f"describe {topic}", described)
    finally:
        await admin.close()
    return found


async def ensure_topics(config: BusConfig, specs: Sequence[TopicSpec]) -> None:
    """Create the topics that do not exist yet and wait until every partition has a leader.

    A topic declared in `voltline_events.topics.DECLARED` is created as declared, whatever the spec says,
    so every service creates it identically. Safe to run from many instances at once; an existing topic
    that differs from its declaration is left as it is and reported as an error that says how to fix it.
    Retries while the broker is unreachable for up to `config.connect_timeout` seconds, then raises
    BrokerUnavailable.
    """
    unique = list({spec.name: spec.as_declared() for spec in specs}.values())
    if not unique:
        return
    deadline = time.monotonic() + config.connect_timeout
    admin = await _connect_admin(config, "ensure_topics")
    try:
        await _until(deadline, "create topics", lambda: _create(admin, unique, config.replication_factor))
        await _until(deadline, "wait for topic leaders", lambda: _await_leaders(admin, unique))
    finally:
        await admin.close()


async def _until(deadline: float, what: str, step: Callable[[], Awaitable[bool]]) -> None:
    """Repeat `step` (returns True when done) through transient errors until the deadline."""
    backoff = Backoff(initial=0.05, cap=1.0)
    while True:
        try:
            if await step():
                return
            error: Exception | None = None
        except KafkaError as exc:
            if not is_transient(exc):
                raise TopicSetupError(f"{what} failed: {exc!r}") from exc
            error = exc
        if time.monotonic() + backoff.delay > deadline:
            raise BrokerUnavailable(f"{what}: not done before the deadline (last error: {error!r})")
        await backoff.wait()


async def _create(admin: AIOKafkaAdminClient, specs: list[TopicSpec], replication: int) -> bool:
    pending = {spec.name: spec for spec in specs}
    without_configs: set[str] = set()
    while pending:
        new = [
            NewTopic(
                spec.name,
                spec.partitions,
                replication,
                topic_configs=None if spec.name in without_configs else spec.configs() or None,
            )
            for spec in pending.values()
        ]
        response = await admin.create_topics(new)
        retry: dict[str, TopicSpec] = {}
        transient: list[str] = []
        for topic, code, *rest in response.topic_errors:
            message = rest[0] if rest else None
            spec = pending[topic]
            if code == 0:
                log.info("topic created", topic=topic, partitions=spec.partitions, configs=spec.configs())
                continue
            error = for_code(code)
            if error is TopicAlreadyExistsError:
                log.debug("topic already exists", topic=topic)
            elif issubclass(error, _CONFIG_REFUSED) and spec.configs() and topic not in without_configs:
                # tansu-style brokers may not implement per-topic configs; a topic without them
                # still works (just without compaction/retention), which beats not starting.
                log.warning(
                    "broker refused topic configs, creating the topic without them",
                    topic=topic,
                    configs=spec.configs(),
                    error=error.__name__,
                    detail=message,
                )
                without_configs.add(topic)
                retry[topic] = spec
            elif getattr(error, "retriable", False):
                transient.append(topic)
            else:
                raise TopicSetupError(f"cannot create topic {topic!r}: {error.__name__}: {message}")
        if transient:
            log.info("topic creation hit a transient error, retrying", topics=transient)
            return False
        pending = retry
    return True


async def _await_leaders(admin: AIOKafkaAdminClient, specs: list[TopicSpec]) -> bool:
    described = {entry["topic"]: entry for entry in await admin.describe_topics([spec.name for spec in specs])}
    for spec in specs:
        entry = described.get(spec.name)
        if entry is None or entry["error_code"] != 0 or not entry["partitions"]:
            return False
        if any(p["error_code"] != 0 or p["leader"] < 0 for p in entry["partitions"]):
            return False
    for spec in specs:
        actual = len(described[spec.name]["partitions"])
        if actual != spec.partitions:
            log.error(
                "existing topic differs from its declaration: it has a different partition count",
                topic=spec.name,
                declared=spec.partitions,
                actual=actual,
                consequence="fewer partitions cap the replicas that share its consumers' work"
                if actual < spec.partitions
                else "more partitions than declared: harmless, but not what other environments have",
                fix=f"kafka-topics.sh --alter --topic {spec.name} --partitions {spec.partitions} (see docs/scaling.md)"
                if actual < spec.partitions
                else "declare the count in voltline_events.topics.DECLARED",
            )
    await _check_configs(admin, specs)
    return True


async def _check_configs(admin: AIOKafkaAdminClient, specs: list[TopicSpec]) -> None:
    """Report an existing topic whose cleanup policy or retention differs from its declaration."""
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, spec.name) for spec in specs]
        )
    except (KafkaError, OSError, ValueError, KeyError) as exc:  # e.g. tansu does not describe configs
        log.debug("topic configs not checked", error=repr(exc))
        return
    actual: dict[str, dict[str, str]] = {}
    for response in responses:
        for _code, _message, _type, name, entries in getattr(response, "resources", []):
            actual[name] = {entry[0]: entry[1] for entry in entries}
    for spec in specs:
        have = actual.get(spec.name)
        if have is None:
            continue
        want = {"cleanup.policy": "compact" if spec.compacted else "delete"}
        if spec.retention_ms is not None:
            want["retention.ms"] = str(spec.retention_ms)
        for key, value in want.items():
            if key in have and have[key] != value:
                log.error(
                    "existing topic differs from its declaration",
                    topic=spec.name,
                    config=key,
                    declared=value,
                    actual=have[key],
                    fix=f"kafka-configs.sh --alter --entity-type topics --entity-name {spec.name} "
                    f"--add-config {key}={value}",
                )

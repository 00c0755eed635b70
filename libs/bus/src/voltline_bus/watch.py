"""Noticing that the broker came back as a different cluster (the embedded tansu broker after a restart).

tansu keeps topics in memory: when it restarts, every topic, record, consumer group and committed offset is
gone, while the services and their stores live on. A restarted tansu is started with a new cluster id, so a
change of the id a broker reports is the signal; each owner then recreates its topics and republishes what
it owns (the gateway its spool, services their recent outbox rows, auth its registry). A real Kafka
cluster's id never changes, so against Kafka this is one cheap metadata request every `interval` seconds: one
kept connection, asking for no topic (a metadata request for every topic, on a broker with thousands, was the
largest idle cost of a whole service).

Nothing here may wait without a bound: a reset handler stuck in a client call (a consumer positioning on a
topic that vanished with a second restart, say) would otherwise stop the watch for good, and every later
restart would go unnoticed. A handler that overruns `handler_timeout` is cancelled and the whole reset is
retried at the next poll; a handler that does not even finish cancelling within `cancel_grace` is left behind
(logged) rather than waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from voltline_bus.config import BusConfig

log = structlog.get_logger()

ResetHandler = Callable[[], Awaitable[None]]


class BrokerWatch:
    """Polls the cluster id; after a change runs the reset handlers, in the order they were added."""

    def __init__(
        self,
        config: BusConfig,
        *,
        interval: float = 1.0,
        handler_timeout: float = 120.0,
        cancel_grace: float = 5.0,
        probe_timeout: float = 5.0,
    ) -> None:
        self._config = config
        self._interval = interval
        self._handler_timeout = handler_timeout
        self._cancel_grace = cancel_grace
        self._probe_timeout = probe_timeout
        self._handlers: list[tuple[str, ResetHandler]] = []
        self._task: asyncio.Task[None] | None = None
        self._abandoned: set[asyncio.Future[None]] = set()  # handlers that ignored cancellation
        self._admin: AIOKafkaAdminClient | None = None  # kept between polls; dropped after an error
        self.cluster_id: str | None = None
        self.resets = 0  # restarts noticed
        self.handled = 0  # resets whose handlers all finished
        self.reachable = True

    def on_reset(self, name: str, handler: ResetHandler, *, first: bool = False) -> None:
        """`handler` must be idempotent (it runs again when a later one fails); `first` puts it before the others."""
        self._handlers.insert(0 if first else len(self._handlers), (name, handler))

    async def start(self) -> None:
        """Learn the current cluster id (best effort) and start polling."""
        if self._task is not None:
            return
        with contextlib.suppress(KafkaError, OSError, TimeoutError):
            self.cluster_id = await self._cluster_id()
        self._task = asyncio.create_task(self._run(), name="broker-watch")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._drop_admin()

    async def check(self) -> bool:
        """Poll once; True when the cluster changed (and the handlers ran)."""
        try:
            current = await self._cluster_id()
        except (KafkaError, OSError, TimeoutError) as exc:
            if self.reachable:
                log.warning("broker unreachable; waiting for it", bootstrap=self._config.bootstrap, error=repr(exc))
            self.reachable = False
            return False
        if not self.reachable:
            log.info("broker reachable again", bootstrap=self._config.bootstrap, cluster_id=current)
        self.reachable = True
        previous, self.cluster_id = self.cluster_id, current
        if previous is None or previous == current:
            return False
        self.resets += 1
        log.warning(
            "broker restarted empty (new cluster id); recreating topics, republishing", was=previous, now=current
        )
        for name, handler in self._handlers:
            try:
                await self._run_unless_restarted(handler, current)
            except Exception:
                # Every handler is idempotent: forget the new id so that the next poll runs them all again.
                log.exception("broker reset handler failed; retrying the reset", handler=name)
                self.cluster_id = previous
                return False
        self.handled += 1
        log.info("broker reset handled", cluster_id=current)
        return True

    async def _run_unless_restarted(self, handler: ResetHandler, cluster_id: str) -> None:
        """Run a handler, but give up on it when the broker restarts again meanwhile (the topic it may be
        waiting for would only be recreated by the next reset, which it would otherwise be blocking) or when
        it overruns `handler_timeout`."""
        task = asyncio.ensure_future(handler())
        deadline = asyncio.get_running_loop().time() + self._handler_timeout
        try:
            while not task.done():
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    raise TimeoutError(f"the reset handler took longer than {self._handler_timeout:.0f}s")
                await asyncio.wait({task}, timeout=min(self._interval, left))
                if task.done():
                    break
                with contextlib.suppress(KafkaError, OSError, TimeoutError):
                    if await self._cluster_id() != cluster_id:
                        raise RuntimeError("the broker restarted again during the reset")
            if task.cancelled():  # a client library's stray CancelledError (see voltline_bus._closing)
                raise RuntimeError("the reset handler ended cancelled though nobody cancelled it")
            task.result()
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=self._cancel_grace)
                if not task.done():
                    log.error("a broker reset handler ignores cancellation; leaving it behind", task=repr(task))
                    self._abandoned.add(task)
                    task.add_done_callback(self._abandoned.discard)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.check()
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is None or task.cancelling():
                    raise  # stop()
                log.exception("a stray cancellation reached the broker watch; polling on")
            except Exception:  # the watch must outlive any surprise, or later restarts go unnoticed
                log.exception("broker watch poll failed; polling on")

    async def _cluster_id(self) -> str:
        try:
            async with asyncio.timeout(self._probe_timeout):
                if self._admin is None:
                    admin = AIOKafkaAdminClient(
                        **self._config.connection(),
                        client_id=f"{self._config.client_id}-watch",
                        request_timeout_ms=2000,
                    )
                    self._admin = admin
                    await admin.start()
                # An empty topic list asks for brokers and the cluster id only (describe_cluster() asks for every
                # topic); aiokafka offers no public call for that.
                response = await self._admin._get_cluster_metadata(topics=[])
                return str(response.to_object()["cluster_id"])
        except BaseException:
            await self._drop_admin()  # a fresh client next time (its connection may be to a dead broker)
            raise

    async def _drop_admin(self) -> None:
        admin, self._admin = self._admin, None
        if admin is None:
            return
        try:
            async with asyncio.timeout(self._probe_timeout):
                await admin.close()
        except Exception as exc:  # a client that cannot close is dropped, not waited for
            log.warning("broker watch could not close its admin client", error=repr(exc))

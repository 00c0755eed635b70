"""What ServiceInfra does around every service's consumers: the GC's start-up collection before they start, and
the consumer settings common to all (`infra.watch`), the size of the pool they draw on."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from voltline_bus import BusConfig, EventConsumer
from voltline_chassis.infra import ServiceInfra


def _infra(helpers: Any, tmp_path: Path, **settings: Any) -> ServiceInfra:
    return ServiceInfra.from_settings(
        helpers.make_settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/db.sqlite", **settings),
        api_key_feed=False,
    )


def _consumer() -> EventConsumer:
    async def handle(_: Any) -> None:
        return None

    config = BusConfig(bootstrap="127.0.0.1:1", client_id="t")
    return EventConsumer(config, group_id="g", topics=["t"], handler=handle, dead_letter=None)  # type: ignore[arg-type]


def test_watch_applies_the_caught_up_commit_setting_to_every_consumer(helpers: Any, tmp_path: Path) -> None:
    assert _infra(helpers, tmp_path).watch(_consumer()).commit_caught_up is False
    assert _infra(helpers, tmp_path, consumer_commit_caught_up=True).watch(_consumer()).commit_caught_up is True


async def test_start_up_is_collected_and_frozen_before_the_consumers_start(
    helpers: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    """The full collection of start-up runs before `after_start` (where consumers join their groups): after it, it
    stalled the first batches of a backlog (bench/RESULTS.md, thirteenth round)."""
    infra = _infra(helpers, tmp_path, gc_thresholds=(54_321, 9, 9))

    async def nothing(*_: Any) -> None:
        return None

    monkeypatch.setattr(infra, "start", nothing)
    monkeypatch.setattr(infra, "stop", nothing)
    seen: dict[str, Any] = {}

    async def after_start() -> None:
        seen["thresholds"], seen["frozen"] = gc.get_threshold(), gc.get_freeze_count()

    async with infra.lifespan(tmp_path, after_start=after_start)(FastAPI()):
        assert gc.get_threshold() == (54_321, 9, 9)
    assert seen["thresholds"] == (54_321, 9, 9)
    assert seen["frozen"] > 0
    assert gc.get_freeze_count() == 0


def test_the_postgresql_pool_is_as_large_as_the_setting(helpers: Any) -> None:
    """`database_pool_size` connections are kept (and opened at start, before the consumers join)."""
    for size in (5, 8):
        settings = helpers.make_settings(database_url="postgresql+asyncpg://u@h/db", database_pool_size=size)
        infra = ServiceInfra.from_settings(settings, api_key_feed=False)
        assert infra.engine.pool.size() == size  # type: ignore[attr-defined]  # QueuePool's

"""A batch that is over lets go of what it held (`Batch.release`): its envelopes and what the handlers kept in
`memo` are freed at once, not left to a cyclic collection with the batch itself (each young collection of a busy
consumer walked them: bench/RESULTS.md, thirteenth round)."""

from __future__ import annotations

import contextlib
import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from voltline_events import Envelope, envelope_for
from voltline_events.payloads import Heartbeat
from voltline_store import TransactionBatch, UnitOfWork


class Kept:
    """What a handler keeps in the batch's memo: a repository that refers back to its batch (a cycle)."""

    def __init__(self, batch: Any) -> None:
        self.batch = batch

    async def flush(self) -> None:
        assert self.batch.memo["kept"] is self


@contextlib.contextmanager
def no_cyclic_collection() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _beats(count: int) -> list[Envelope]:
    return [
        envelope_for(Heartbeat(ocpp_version="ocpp1.6"), source="test/1", station_id=f"CP-{n}") for n in range(count)
    ]


async def _handle(sessions: async_sessionmaker[AsyncSession], scope: TransactionBatch, fail: bool) -> list[Any]:
    """One batch of 20 events whose handlers claim their markers and keep a repository in memo, with a hook (as the
    services' coalescing repositories do); weak references to what it held."""
    envelopes = _beats(20)
    refs: list[Any] = [weakref.ref(e) for e in envelopes]
    with contextlib.suppress(RuntimeError):
        async with scope(envelopes) as batch:
            kept = Kept(batch)
            refs.append(weakref.ref(kept))
            for envelope in envelopes:
                async with UnitOfWork(sessions) as uow:
                    assert await uow.inbox.first_time("release-test", envelope.event_id)
                    await uow.commit()

            batch.memo["kept"] = kept
            batch.before_commit("flush", kept.flush)
            if fail:
                raise RuntimeError("a handler failed: the batch rolls back")
    return refs  # this coroutine's locals go with it


@pytest.mark.parametrize("fail", [False, True], ids=["committed", "rolled-back"])
async def test_a_batch_that_is_over_frees_its_envelopes_and_memo_without_a_cyclic_collection(
    sessions: async_sessionmaker[AsyncSession], fail: bool
) -> None:
    scope = TransactionBatch(sessions, inbox_consumer="release-test")
    with no_cyclic_collection():
        refs = await _handle(sessions, scope, fail)
        alive = [r for r in refs if r() is not None]
    assert alive == []

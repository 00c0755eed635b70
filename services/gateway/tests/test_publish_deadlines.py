"""The publish timeout of every waiting publish kept by one timer (adapters.bus.Deadlines)."""

from __future__ import annotations

import asyncio

import pytest
from voltline_gateway.adapters.bus import Deadlines, _Expired


async def test_only_the_publishes_not_acknowledged_in_time_fail_each_at_its_own_deadline() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(0.2)
    acked, late = loop.create_future(), loop.create_future()
    deadlines.watch(acked)
    deadlines.watch(late)
    acked.set_result(None)  # the broker acknowledged the first one at once
    await asyncio.sleep(0.1)
    later = loop.create_future()
    deadlines.watch(later)  # queued 0.1 s after the others: its deadline is its own, not theirs
    with pytest.raises(_Expired):
        await late
    assert acked.result() is None
    assert not later.done()
    started = loop.time()
    with pytest.raises(_Expired):
        await later
    assert 0.05 < loop.time() - started < 0.2


async def test_a_waiter_its_writer_gave_up_on_is_dropped_and_the_timer_rearms() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(0.1)
    cancelled, waiting = loop.create_future(), loop.create_future()
    deadlines.watch(cancelled)
    cancelled.cancel()  # the station's task went away while its event was on the way
    await asyncio.sleep(0.15)  # the timer fired with nothing left to fail
    deadlines.watch(waiting)
    with pytest.raises(_Expired):
        await asyncio.wait_for(waiting, 1)


def test_a_new_event_loop_gets_a_timer_of_its_own() -> None:
    """A timer left on a closed loop never fires: the next loop's publishes must still time out."""
    deadlines = Deadlines(0.05)

    async def late_publish() -> None:
        waiter = asyncio.get_running_loop().create_future()
        deadlines.watch(waiter)
        with pytest.raises(_Expired):
            await asyncio.wait_for(waiter, 1)

    async def left_waiting() -> None:
        deadlines.watch(asyncio.get_running_loop().create_future())  # the loop ends before its deadline

    asyncio.run(left_waiting())
    asyncio.run(late_publish())

"""A service's lifespan tunes the cyclic GC (voltline_chassis.gctune) and puts it back when it ends."""

from __future__ import annotations

import gc

from voltline_chassis.gctune import tuned_gc


def test_the_block_freezes_start_up_and_raises_the_thresholds_then_restores_both() -> None:
    before = gc.get_threshold()
    survivor = [object()]  # a container alive at start-up
    with tuned_gc((12_345, 7, 3)):
        assert gc.get_threshold() == (12_345, 7, 3)
        assert gc.get_freeze_count() > 0
        assert all(o is not survivor for o in gc.get_objects())  # frozen: in no generation's list
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert survivor

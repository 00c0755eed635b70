"""The gateway's cyclic GC: a young collection walks every live young object (the messages in flight)."""

from __future__ import annotations

import gc

from voltline_gateway.bootstrap import tune_gc
from voltline_gateway.settings import GatewaySettings


def test_young_collections_are_rare_enough_not_to_stall_every_few_seconds() -> None:
    """At 2,000 msg/s ~25,000 objects are in flight: at a threshold of 20,000 a collection walked them every ~2 s
    (5-28 ms each, ~80 ms every 20th), every answer waiting behind it (bench/RESULTS.md, twelfth round)."""
    thresholds = GatewaySettings().gc_thresholds
    assert thresholds == (100_000, 20, 20)
    before = gc.get_threshold()
    try:
        tune_gc(thresholds)
        assert gc.get_threshold() == thresholds
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)

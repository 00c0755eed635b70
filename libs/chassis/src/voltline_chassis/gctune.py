"""CPython's cyclic garbage collector, tuned for a service that handles events in bulk.

A consumer batch keeps hundreds of envelopes (each a model and dicts) alive until it commits, so with CPython's
default thresholds (700, 10, 10) they are traversed by several collections on their way to the oldest generation,
and every full collection walks the whole heap (SQLAlchemy, pydantic's schemas, the modules): 40% of the CPU of
the bus floor (`bench.pipeline.bus`, measured against gc disabled). Larger thresholds make collections rare, and
what exists once the service has started lives as long as the process, so it is frozen out of every collection.
The gateway does the same for its frames (`voltline_gateway.bootstrap.tune_gc`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULT_THRESHOLDS = (100_000, 20, 20)


def tune_gc(thresholds: tuple[int, int, int] = DEFAULT_THRESHOLDS) -> tuple[int, int, int]:
    """Collect once, freeze what survived start-up, then collect with `thresholds` (gen0 allocations, gen1, gen2).

    Returns the thresholds it replaced."""
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
    return previous


@contextmanager
def tuned_gc(thresholds: tuple[int, int, int] = DEFAULT_THRESHOLDS) -> Iterator[None]:
    """`tune_gc` for the block; after it, the frozen objects can be collected again and the thresholds are back
    (a test process starts many services: what each froze must not outlive it)."""
    previous = tune_gc(thresholds)
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*previous)

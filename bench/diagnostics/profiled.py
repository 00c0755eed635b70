"""`python -m bench.diagnostics.profiled FILE`: the diagnostics service under cProfile (CPU time), stats to FILE.

`python -m cProfile` writes nothing here: uvicorn re-raises the SIGTERM it stopped on, so the process dies by
the signal before cProfile's exit. This runs the service's `__main__` with that re-raise turned off.
"""

from __future__ import annotations

import cProfile
import runpy
import signal
import sys
import time


def main() -> None:
    out = sys.argv[1]
    signal.raise_signal = lambda _signal: None  # a clean return instead of dying by the captured signal
    profiler = cProfile.Profile(time.process_time)  # CPU time: wall time counts the waits of a loaded machine
    profiler.enable()
    try:
        runpy.run_module("voltline_diagnostics", run_name="__main__")
    finally:
        profiler.disable()
        profiler.dump_stats(out)


if __name__ == "__main__":
    main()

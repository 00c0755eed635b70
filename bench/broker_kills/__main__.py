"""Broker-kill benchmark: `uv run python -m bench.broker_kills [--kills 20 --stations 10]`.

The `make run` system (tansu, SQLite stores, the gateway's spool, a supervisor that brings the broker back)
under a closed loop of charging stations; the broker is SIGKILLed at random moments `--kills` times. Prints,
per kill and at the end, what stations were told was stored and what the session store shows: a loss is an
answered TransactionEvent Ended whose session never completed. The scenario is tests-e2e/broker_chaos.py
(the test runs 3 kills of it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests-e2e"))

from broker_chaos import run, start


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.broker_kills", description=__doc__)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--stations", type=int, default=10)
    parser.add_argument("--min-gap", type=float, default=3.0, help="seconds between kills, at least")
    parser.add_argument("--max-gap", type=float, default=8.0, help="seconds between kills, at most")
    parser.add_argument("--pause", type=float, default=0.2, help="seconds a station idles between sessions")
    parser.add_argument("--settle", type=float, default=600.0, help="seconds the stores may take to show every session")
    parser.add_argument("--keep", type=Path, help="run in this directory and keep it (logs, stores, spool)")
    args = parser.parse_args()
    # SIGTERM (e.g. `timeout`) stops like Ctrl-C, so the broker and the services are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))

    with contextlib.ExitStack() as cleanup:
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            tmp = args.keep
        else:
            tmp = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="voltline-bench-kills-")))
        system_iter = start(tmp)
        system = next(system_iter)
        began = time.monotonic()
        try:
            tally, missing = asyncio.run(
                run(
                    system,
                    stations=args.stations,
                    kills=args.kills,
                    between_kills_s=(args.min_gap, args.max_gap),
                    pause_s=args.pause,
                    settle_s=args.settle,
                    report=lambda line: print(f"[{time.monotonic() - began:6.1f} s] {line}", flush=True),
                )
            )
        finally:
            restarts = system.broker.restarts
            system_iter.close()
    print("\nbroker kills under load (make run's embedded broker, SQLite, gateway spool)")
    print(f"  kills / broker restarts          {args.kills} / {restarts}")
    print(f"  stations                         {args.stations}")
    print(f"  calls answered                   {tally.answered}")
    print(f"  calls resent by stations         {tally.retries}")
    print(f"  transactions answered as ended   {len(tally.ended)}")
    print(f"  lost (answered, not in store)    {len(missing)}")
    if missing:
        print(f"  lost, first ones                 {sorted(missing)[:10]}")
    return 0 if not missing else 1


if __name__ == "__main__":
    sys.exit(main())

"""What decoding a consumed record costs: the envelope from its bytes, then its typed payload.

`uv run python -m bench.events.decode [--events 20000] [--rounds 15]`: encodes the gateway's realistic mix
(bench.pipeline.ingest.station_mix: MeterValues inside transactions, StatusNotification, Heartbeat, after each
station's connect, boot and start) once, then decodes it alternately the reference way (`model_validate_json`,
then `registry._decode_payload`: version lookups and `model_validate`) and the way a consumer does
(`Envelope.from_bytes`, `decode_payload`). Prints µs of this thread's CPU per record for each, the best of
`--rounds`, per event type and for the mix, with the load average. No I/O; not part of `make test`.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from voltline_events import Envelope, decode_payload, registry

from bench.pipeline.ingest import station_mix

Decode = Callable[[bytes], object]


def reference(raw: bytes) -> object:
    return registry._decode_payload(Envelope.model_validate_json(raw))


def current(raw: bytes) -> object:
    return decode_payload(Envelope.from_bytes(raw))


def envelope_reference(raw: bytes) -> object:
    return Envelope.model_validate_json(raw)


def envelope_current(raw: bytes) -> object:
    return Envelope.from_bytes(raw)


def cpu_us_per_record(decode: Decode, records: list[bytes]) -> float:
    started = time.thread_time_ns()
    for raw in records:
        decode(raw)
    return (time.thread_time_ns() - started) / len(records) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    mix = [envelope.to_bytes() for _, envelope in station_mix(max(50, args.events // 100), args.events)]
    by_type: dict[str, list[bytes]] = {}
    for raw in mix:
        by_type.setdefault(Envelope.from_bytes(raw).type, []).append(raw)
    sets = {"mix": mix} | {name: records for name, records in by_type.items() if len(records) >= 100}
    ways: dict[str, Decode] = {
        "reference": reference,
        "current": current,
        "envelope reference": envelope_reference,
        "envelope current": envelope_current,
    }
    best = {(name, way): float("inf") for name in sets for way in ways}
    for _ in range(args.rounds):
        for name, records in sets.items():
            for way, decode in ways.items():
                best[name, way] = min(best[name, way], cpu_us_per_record(decode, records))
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; best of {args.rounds} rounds, µs CPU/record")
    print(f"{'records':28s} {'n':>6s}" + "".join(f"{way:>20s}" for way in ways))
    for name, records in sets.items():
        print(f"{name:28s} {len(records):6d}" + "".join(f"{best[name, way]:20.2f}" for way in ways))


if __name__ == "__main__":
    main()

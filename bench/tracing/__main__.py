"""CPU cost of the tracing hooks per event: `uv run python -m bench.tracing [--events 20000]`.

In-process, no broker: what the bus adds to publishing an event (stamp + headers + bytes), to the gateway's
envelope encoding, and to handling a consumed event, with tracing off (the default, `make run`) and on
(the SDK, its spans handed to an exporter that drops them: exporting itself is not measured).
Prints microseconds per event; the difference between the two is what tracing costs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

from aiokafka import ConsumerRecord
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from voltline_bus import tracing
from voltline_bus.headers import envelope_headers
from voltline_chassis.tracing import configure_tracing
from voltline_events import Envelope
from voltline_events.payloads.station import Heartbeat
from voltline_gateway.adapters.envelopes import encode


class _Drop(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _per_event_us(work: Callable[[], None], events: int) -> float:
    for _ in range(events // 10):  # warm up
        work()
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(events):
            work()
        best = min(best, time.perf_counter() - started)
    return best / events * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.tracing")
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    envelope = Envelope(
        type="station.meter_values", schema_version=1, source="bench", station_id="CP-1", message_id="m1", payload={}
    )
    record = ConsumerRecord("t", 0, 42, 0, 0, b"CP-1", b"", None, 0, 0, envelope_headers(envelope))
    heartbeat = Heartbeat(ocpp_version="ocpp1.6")
    tracer = trace.get_tracer("bench")

    def publish() -> None:
        stamped = tracing.stamped(envelope)
        stamped.to_bytes()
        envelope_headers(stamped)

    def gateway_encode() -> None:
        encode(heartbeat, source="gateway/bench", station_id="CP-1", message_id="m1")

    def consume() -> None:
        with tracing.consumed(envelope, record, "bench"):
            pass

    cases = {"publish (stamp, headers, bytes)": publish, "gateway encode": gateway_encode, "consume": consume}
    off = {name: _per_event_us(work, args.events) for name, work in cases.items()}
    configure_tracing("bench", exporter=_Drop())
    with tracer.start_as_current_span("ocpp MeterValues"):  # events published inside a station's call
        on = {name: _per_event_us(work, args.events) for name, work in cases.items()}
    print(f"{'per event':34} {'off':>9} {'on':>9} {'added':>9}")
    for name in cases:
        print(f"{name:34} {off[name]:8.2f}us {on[name]:8.2f}us {on[name] - off[name]:8.2f}us")


if __name__ == "__main__":
    main()

"""A stand-in for the auth service that answers at once (boots Accepted, BENCH-* tokens Accepted).

Used where the benchmark measures the gateway, not the auth service: the throughput mix and the reconnect
storm. `python -m bench.gateway.auth_responder BOOTSTRAP PREFIX`.
"""

from __future__ import annotations

import asyncio
import logging
import sys

import structlog
from voltline_bus import BusConfig, Producer, reply
from voltline_events import Envelope, Event, Topics, decode_payload
from voltline_events.payloads import AuthorizationDecision, AuthorizationRequested, BootDecision, BootDecisionRequested
from voltline_gateway.adapters.tail import TopicTail


async def main(bootstrap: str, prefix: str) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    config = BusConfig(bootstrap=bootstrap, client_id="bench-auth", idempotence=False, linger_ms=1)
    producer = Producer(config)
    await producer.start()
    tasks: set[asyncio.Task[None]] = set()

    def answer(key: bytes | None, value: bytes | None) -> None:
        request = Envelope.from_bytes(value or b"")
        asked = decode_payload(request)
        response: Event
        if isinstance(asked, BootDecisionRequested):
            response = BootDecision(status="Accepted", interval=300)
        elif isinstance(asked, AuthorizationRequested):
            ok = asked.id_token.id_token.startswith("BENCH-")
            response = AuthorizationDecision(status="Accepted" if ok else "Invalid")
        else:
            return
        task = asyncio.get_running_loop().create_task(reply(producer, request, response, source="auth/bench"))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    tail = TopicTail(config, producer, Topics(prefix).auth_requests, answer, from_beginning=False)
    await tail.start()
    print("ready", flush=True)
    await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))

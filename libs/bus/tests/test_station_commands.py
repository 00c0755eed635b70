"""The typed station-command client against a real broker: a gateway's answer, and no gateway at all."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from voltline_bus import Dispatcher, RequestReplyClient, RequestTimeout, StationCommandClient, reply
from voltline_events import Envelope, Topics, decode_payload
from voltline_events.payloads import StationCommand, StationCommandResult


@pytest.fixture
async def rpc(kit: Any) -> AsyncIterator[RequestReplyClient]:
    client = RequestReplyClient(kit.config, kit.producer, kit.topic("replies.diag-1"))
    await client.start()
    yield client
    await client.stop()


async def test_the_gateways_answer_comes_back_typed(kit: Any, rpc: RequestReplyClient) -> None:
    topics = Topics(kit.prefix)
    [commands] = await kit.topics(topics.station_commands.removeprefix(kit.prefix))

    async def gateway(request: Envelope) -> None:
        command = decode_payload(request)
        assert isinstance(command, StationCommand)
        answer = StationCommandResult(outcome="answered", action=command.action, payload={"status": "Accepted"})
        await reply(kit.producer, request, answer, source="gateway/1")

    await kit.consumer([commands], Dispatcher({StationCommand.TYPE: gateway}), group="gateway")
    client = StationCommandClient(rpc, topics, source="diagnostics/1")
    result = await client.send("CS-1", "Reset", {"type": "Soft"}, timeout_s=10, ocpp_version="ocpp1.6")
    assert (result.outcome, result.payload) == ("answered", {"status": "Accepted"})
    [on_wire] = await kit.read(commands, 1)
    sent = decode_payload(Envelope.from_bytes(on_wire.value))
    assert isinstance(sent, StationCommand) and sent.ocpp_version == "ocpp1.6" and sent.timeout_s == 10


async def test_no_gateway_is_a_timeout_result_not_an_exception(kit: Any, rpc: RequestReplyClient) -> None:
    topics = Topics(kit.prefix)
    await kit.topics(topics.station_commands.removeprefix(kit.prefix))
    client = StationCommandClient(rpc, topics, source="diagnostics/1", margin_s=0.2)
    started = time.monotonic()
    result = await client.send("CS-1", "ClearCache", {}, timeout_s=0.3)
    assert result.outcome == "timeout" and "no gateway answered" in (result.error_description or "")
    assert time.monotonic() - started < 3


async def test_a_caller_may_wait_less_and_have_no_answer_raised(kit: Any, rpc: RequestReplyClient) -> None:
    topics = Topics(kit.prefix)
    await kit.topics(topics.station_commands.removeprefix(kit.prefix))
    client = StationCommandClient(rpc, topics, source="session/1")
    started = time.monotonic()
    with pytest.raises(RequestTimeout):
        await client.send("CS-1", "RequestStartTransaction", {}, timeout_s=30, wait_s=0.3, raise_unanswered=True)
    assert time.monotonic() - started < 3

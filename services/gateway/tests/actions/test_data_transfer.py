from __future__ import annotations

from typing import Any

from voltline_events.payloads import DataTransfer
from voltline_gateway.actions.context import Policy


async def test_unknown_vendors_are_told_so_and_known_ones_accepted(answer: Any, bus: Any) -> None:
    call = [2, "d", "DataTransfer", {"vendorId": "com.acme", "messageId": "Temp", "data": "41"}]
    assert (await answer(call))[2] == {"status": "UnknownVendorId"}
    policy = Policy(data_transfer_vendors=frozenset({"com.acme"}))
    assert (await answer(call, "ocpp2.0.1", policy=policy))[2] == {"status": "Accepted"}
    assert bus.events[0] == DataTransfer(
        ocpp_version="ocpp1.6", vendor_id="com.acme", data_message_id="Temp", data="41"
    )
    assert len(bus.events) == 2

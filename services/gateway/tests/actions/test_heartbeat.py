from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from voltline_events.payloads import Heartbeat


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_heartbeat_is_published_and_answered_with_the_time(answer: Any, bus: Any, version: str) -> None:
    reply = await answer([2, "h", "Heartbeat", {}], version)
    now = datetime.fromisoformat(reply[2]["currentTime"])
    assert abs((datetime.now(UTC) - now).total_seconds()) < 5
    assert bus.events == [Heartbeat(ocpp_version=version)]

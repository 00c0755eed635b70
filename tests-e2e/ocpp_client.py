"""A minimal OCPP-J station for tests: send a call, read the answer."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

_ids = itertools.count(1)


class Station:
    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket

    async def call(self, action: str, payload: dict[str, Any]) -> list[Any]:
        message_id = str(next(_ids))
        await self.socket.send(json.dumps([2, message_id, action, payload]))
        return await self.receive(message_id)

    async def send_raw(self, text: str) -> list[Any]:
        await self.socket.send(text)
        return json.loads(await self.socket.recv())

    async def receive(self, message_id: str) -> list[Any]:
        """The answer to `message_id`; a call from the CSMS meanwhile (ClearCache after an operator blocks a card,
        say) is answered Accepted, as a station would, instead of being taken for the answer."""
        while True:
            answer = json.loads(await self.socket.recv())
            if answer[0] == 2:
                await self.socket.send(json.dumps([3, answer[1], {"status": "Accepted"}]))
                continue
            assert answer[1] == message_id, answer
            return answer


def station(
    base_url: str, station_id: str, protocol: str = "ocpp1.6", *, password: str | None = None, **kwargs: Any
) -> Any:
    """Connect as a station; with `password`, HTTP Basic auth (user = station id), as security profiles 1 and 2 ask."""
    if password is not None:
        token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
        kwargs["additional_headers"] = {**kwargs.get("additional_headers", {}), "Authorization": f"Basic {token}"}
    return connect(f"{base_url}/{station_id}", subprotocols=[protocol], **kwargs)  # type: ignore[list-item]

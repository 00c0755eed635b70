"""Asking other services over Kafka: the auth service (may this token charge?) and gateways (commands)."""

from __future__ import annotations

from typing import Any

from voltline_bus import RequestReplyClient, RequestTimeout, StationCommandClient
from voltline_events import Topics, decode_payload, envelope_for, station_key
from voltline_events.payloads import (
    AuthorizationDecision,
    AuthorizationRequested,
    IdToken,
)

from voltline_session.service_layer.remote import AuthUnanswered, CommandAnswer, Decision, GatewayUnanswered


class KafkaAuthorizer:
    def __init__(self, rpc: RequestReplyClient, topics: Topics, *, source: str, timeout_s: float) -> None:
        self._rpc, self._topics, self._source, self._timeout = rpc, topics, source, timeout_s

    async def authorize(
        self, station_id: str, ocpp_version: str, id_token: str, id_token_type: str, evse_id: int | None
    ) -> Decision:
        request = AuthorizationRequested(
            ocpp_version=ocpp_version,
            id_token=IdToken(id_token=id_token, type=id_token_type),
            purpose="authorize",
            evse_id=evse_id,
        )
        envelope = envelope_for(request, source=self._source, station_id=station_id)
        try:
            reply = await self._rpc.request(
                self._topics.auth_requests, envelope, key=station_key(station_id), timeout=self._timeout
            )
        except RequestTimeout:
            raise AuthUnanswered(
                f"The auth service did not answer within {self._timeout:g} s, so the id token could not be checked."
            ) from None
        decision = decode_payload(reply)
        if not isinstance(decision, AuthorizationDecision):
            raise AuthUnanswered(f"The auth service answered with an unexpected {reply.type!r}.")
        return Decision(status=decision.status, driver_id=decision.driver_id)


class KafkaCommandSender:
    """Sends a StationCommand to whichever gateway holds the station (the shared StationCommandClient)."""

    def __init__(
        self, rpc: RequestReplyClient, topics: Topics, *, source: str, timeout_s: float, grace_s: float
    ) -> None:
        self._client = StationCommandClient(rpc, topics, source=source, margin_s=grace_s)
        self.timeout_s = timeout_s
        self._grace = grace_s

    async def send(
        self, station_id: str, action: str, payload: dict[str, Any], ocpp_version: str, *, quick: bool = False
    ) -> CommandAnswer:
        # A gateway answers "offline" at once; waiting for the station itself is what takes long.
        wait = self._grace if quick else self.timeout_s + self._grace
        try:
            result = await self._client.send(
                station_id,
                action,
                payload,
                timeout_s=self.timeout_s,
                ocpp_version=ocpp_version,
                wait_s=wait,
                raise_unanswered=True,
            )
        except RequestTimeout:
            raise GatewayUnanswered(
                f"No gateway answered {action} for station {station_id} within {wait:g} s: "
                "the gateway may be down, so the station's state is unknown."
            ) from None
        if result.outcome == "invalid" and (result.error_description or "").startswith("unexpected "):
            raise GatewayUnanswered(f"The gateway answered with an unexpected reply ({result.error_description}).")
        return CommandAnswer(result.outcome, result.payload, result.error_code, result.error_description)

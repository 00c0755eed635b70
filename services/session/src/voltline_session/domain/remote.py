"""Remote start and stop: which OCPP call each protocol version needs, and what its answer means."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

VerdictKind = Literal["accepted", "rejected", "offline", "call_error", "station_timeout", "invalid", "no_gateway"]
OCPP16 = "ocpp1.6"
ID_TAG_16_MAX = 20


class CommandNotPossible(ValueError):
    """The request cannot be expressed for this station; the message says why, `field` what to fix."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class StartRequest:
    station_id: str
    id_token: str
    id_token_type: str = "Central"
    evse_id: int | None = None
    connector_id: int | None = None
    charging_profile: dict[str, Any] | None = None


@dataclass(frozen=True)
class Verdict:
    kind: VerdictKind
    station_status: str | None
    message: str

    @property
    def accepted(self) -> bool:
        return self.kind == "accepted"


def start_command(ocpp_version: str, request: StartRequest, remote_start_id: int) -> tuple[str, dict[str, Any]]:
    """RemoteStartTransaction (1.6) or RequestStartTransaction (2.0.1, 2.1)."""
    if ocpp_version == OCPP16:
        if len(request.id_token) > ID_TAG_16_MAX:
            raise CommandNotPossible(f"OCPP 1.6 idTags have at most {ID_TAG_16_MAX} characters", "id_token")
        payload: dict[str, Any] = {"idTag": request.id_token}
        connector = request.connector_id if request.connector_id is not None else request.evse_id
        if connector is not None:
            if connector < 1:
                raise CommandNotPossible("OCPP 1.6 remote starts need a connector id of 1 or more", "connector_id")
            payload["connectorId"] = connector
        if request.charging_profile is not None:
            payload["chargingProfile"] = request.charging_profile
        return "RemoteStartTransaction", payload
    payload = {
        "idToken": {"idToken": request.id_token, "type": request.id_token_type},
        "remoteStartId": remote_start_id,
    }
    if request.evse_id is not None:
        if request.evse_id < 1:
            raise CommandNotPossible("evse_id must be 1 or more", "evse_id")
        payload["evseId"] = request.evse_id
    if request.charging_profile is not None:
        payload["chargingProfile"] = request.charging_profile
    return "RequestStartTransaction", payload


def stop_command(ocpp_version: str, transaction_id: str) -> tuple[str, dict[str, Any]]:
    """RemoteStopTransaction (1.6, integer id) or RequestStopTransaction (2.x, the station's string id)."""
    if ocpp_version == OCPP16:
        try:
            return "RemoteStopTransaction", {"transactionId": int(transaction_id)}
        except ValueError:
            raise CommandNotPossible(f"transaction id {transaction_id!r} is not an OCPP 1.6 integer id") from None
    return "RequestStopTransaction", {"transactionId": transaction_id}


def verdict(
    *,
    station_id: str,
    action: str,
    outcome: str,
    payload: dict[str, Any] | None,
    error_code: str | None = None,
    error_description: str | None = None,
    timeout_s: float | None = None,
) -> Verdict:
    """What a StationCommandResult means for the caller of the API, in words a person can act on."""
    if outcome == "answered":
        status = str((payload or {}).get("status", ""))
        if status == "Accepted":
            return Verdict("accepted", status, f"Station {station_id} accepted {action}.")
        reason = ((payload or {}).get("statusInfo") or {}).get("reasonCode")
        why = f" (reason: {reason})" if reason else ""
        return Verdict("rejected", status or None, f"Station {station_id} answered {action} with {status!r}{why}.")
    if outcome == "offline":
        return Verdict("offline", None, f"Station {station_id} is offline: it is not connected to any gateway.")
    if outcome == "timeout":
        within = f" within {timeout_s:g} s" if timeout_s else ""
        return Verdict("station_timeout", None, f"Station {station_id} did not answer {action}{within}.")
    if outcome == "call_error":
        desc = f": {error_description}" if error_description else ""
        return Verdict("call_error", None, f"Station {station_id} refused {action} with {error_code}{desc}.")
    desc = f": {error_description}" if error_description else ""
    return Verdict("invalid", None, f"The gateway did not send {action} to station {station_id}{desc}.")


def check_command(ocpp_version: str, transaction_id: str, bay: int) -> tuple[str, dict[str, Any]]:
    """Ask a station about a transaction: 2.x GetTransactionStatus; 1.6 has no such call, so it is asked to send
    the connector's MeterValues (TriggerMessage), which carry the transaction id while it still runs."""
    if ocpp_version == OCPP16:
        payload: dict[str, Any] = {"requestedMessage": "MeterValues"}
        if bay > 0:
            payload["connectorId"] = bay
        return "TriggerMessage", payload
    return "GetTransactionStatus", {"transactionId": transaction_id}


def station_forgot(ocpp_version: str, action: str, payload: dict[str, Any] | None) -> bool:
    """Whether the station's answer says it no longer knows the transaction (nothing more will come of it).

    2.x: GetTransactionStatus with ongoingIndicator false and no messages queued, or a RequestStopTransaction
    Rejected with reasonCode TxNotFound. 1.6: RemoteStopTransaction Rejected (a 1.6 station rejects it only for
    a transaction it does not have).
    """
    payload = payload or {}
    if action == "GetTransactionStatus":
        return payload.get("ongoingIndicator") is False and not payload.get("messagesInQueue", False)
    if payload.get("status") != "Rejected":
        return False
    if action == "RemoteStopTransaction":
        return True
    reason = str((payload.get("statusInfo") or {}).get("reasonCode", ""))
    return action == "RequestStopTransaction" and reason.lower() == "txnotfound"


def station_confirmed(action: str, payload: dict[str, Any] | None) -> bool:
    """2.x GetTransactionStatus says the transaction is still going on (1.6 confirms by sending its MeterValues)."""
    return action == "GetTransactionStatus" and (payload or {}).get("ongoingIndicator") is True

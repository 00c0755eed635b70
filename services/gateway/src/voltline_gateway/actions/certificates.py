"""Certificate requests from stations (SignCertificate, ISO 15118 certificates, OCSP status): published for the
record and answered negatively, because voltline has no certificate authority or OCSP service yet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from voltline_events.payloads import StationMessage

from voltline_gateway.actions.context import CallContext, Handler
from voltline_gateway.domain.ocpp_j import OCPP16

_NOT_SUPPORTED = {"reasonCode": "NotSupported", "additionalInfo": "no certificate service in this CSMS"}


async def _publish(ctx: CallContext, action: str, payload: dict[str, Any]) -> None:
    event = StationMessage(ocpp_version=ctx.ocpp_version, action=action, payload=payload)
    await ctx.bus.publish(event, station_id=ctx.station_id, message_id=ctx.message_id)


async def sign_certificate(ctx: CallContext, payload: dict[str, Any]) -> dict[str, Any]:
    await _publish(ctx, "SignCertificate", payload)
    if ctx.ocpp_version == OCPP16:
        return {"status": "Rejected"}
    return {"status": "Rejected", "statusInfo": _NOT_SUPPORTED}


async def get_15118_ev_certificate(ctx: CallContext, payload: dict[str, Any]) -> dict[str, Any]:
    await _publish(ctx, "Get15118EVCertificate", payload)
    return {"status": "Failed", "exiResponse": "", "statusInfo": _NOT_SUPPORTED}


async def get_certificate_status(ctx: CallContext, payload: dict[str, Any]) -> dict[str, Any]:
    await _publish(ctx, "GetCertificateStatus", payload)
    return {"status": "Failed", "statusInfo": _NOT_SUPPORTED}


async def get_certificate_chain_status(ctx: CallContext, payload: dict[str, Any]) -> dict[str, Any]:
    await _publish(ctx, "GetCertificateChainStatus", payload)
    retry = (datetime.now(UTC) + timedelta(hours=1)).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {
        "certificateStatus": [
            {
                "certificateHashData": r["certificateHashData"],
                "source": r["source"],
                "status": "Failed",
                "nextUpdate": retry,
            }
            for r in payload["certificateStatusRequests"]
        ]
    }


HANDLERS: dict[str, Handler] = {
    "SignCertificate": sign_certificate,
    "Get15118EVCertificate": get_15118_ev_certificate,
    "GetCertificateStatus": get_certificate_status,
    "GetCertificateChainStatus": get_certificate_chain_status,
}

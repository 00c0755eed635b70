from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_sign_certificate_is_recorded_and_rejected_without_a_ca(answer: Any, bus: Any, version: str) -> None:
    reply = await answer([2, "c", "SignCertificate", {"csr": "-----BEGIN CERTIFICATE REQUEST-----"}], version)
    assert reply[2]["status"] == "Rejected"
    assert bus.events[0].action == "SignCertificate"  # type: ignore[attr-defined]


async def test_15118_and_ocsp_requests_fail_honestly(answer: Any, examples: Any) -> None:
    ev = await answer(
        [2, "c", "Get15118EVCertificate", examples.payload("ocpp2.0.1", "Get15118EVCertificate")], "ocpp2.0.1"
    )
    assert (ev[2]["status"], ev[2]["exiResponse"]) == ("Failed", "")
    chain = examples.payload("ocpp2.1", "GetCertificateChainStatus")
    reply = await answer([2, "c", "GetCertificateChainStatus", chain], "ocpp2.1")
    assert [s["status"] for s in reply[2]["certificateStatus"]] == ["Failed"] * len(chain["certificateStatusRequests"])

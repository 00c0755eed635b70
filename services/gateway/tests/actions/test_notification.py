from __future__ import annotations

from typing import Any

from voltline_events.payloads import StationMessage


async def test_notifications_are_published_as_they_came_and_confirmed(answer: Any, bus: Any) -> None:
    payload = {"status": "Uploaded"}
    assert (await answer([2, "n", "DiagnosticsStatusNotification", payload]))[2] == {}
    assert bus.events == [
        StationMessage(ocpp_version="ocpp1.6", action="DiagnosticsStatusNotification", payload=payload)
    ]


async def test_fixed_answers_tell_the_truth_about_missing_services(answer: Any, examples: Any) -> None:
    needs = await answer(
        [2, "n", "NotifyEVChargingNeeds", examples.payload("ocpp2.0.1", "NotifyEVChargingNeeds")], "ocpp2.0.1"
    )
    assert needs[2]["status"] == "Rejected"
    needs21 = await answer(
        [2, "n", "NotifyEVChargingNeeds", examples.payload("ocpp2.1", "NotifyEVChargingNeeds")], "ocpp2.1"
    )
    assert needs21[2]["status"] == "NoChargingProfile"
    vat = await answer([2, "n", "VatNumberValidation", {"vatNumber": "DE123", "evseId": 1}], "ocpp2.1")
    assert vat[2]["vatNumber"] == "DE123" and vat[2]["statusInfo"]["reasonCode"] == "NotSupported"

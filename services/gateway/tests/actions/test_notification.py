from __future__ import annotations

from typing import Any

from voltline_events.payloads import LogStatus


async def test_notifications_are_published_as_typed_events_and_confirmed(answer: Any, bus: Any) -> None:
    payload = {"status": "Uploaded"}
    assert (await answer([2, "n", "DiagnosticsStatusNotification", payload]))[2] == {}
    assert bus.events == [LogStatus(ocpp_version="ocpp1.6", kind="diagnostics", status="Uploaded")]


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


TYPED_PER_VERSION = {
    "ocpp1.6": {
        "FirmwareStatusNotification": "station.firmware_status",
        "SignedFirmwareStatusNotification": "station.firmware_status",
        "DiagnosticsStatusNotification": "station.log_status",
        "LogStatusNotification": "station.log_status",
        "SecurityEventNotification": "station.security_event",
        "DataTransfer": "station.data_transfer",
        "Authorize": "station.authorize",
        "Heartbeat": "station.heartbeat",
        "StatusNotification": "station.connector_status",
    },
    **{
        v: {
            "FirmwareStatusNotification": "station.firmware_status",
            "LogStatusNotification": "station.log_status",
            "SecurityEventNotification": "station.security_event",
            "NotifyEvent": "station.notify_event",
            "NotifyReport": "station.notify_report",
            "DataTransfer": "station.data_transfer",
            "Authorize": "station.authorize",
            "Heartbeat": "station.heartbeat",
            "StatusNotification": "station.connector_status",
        }
        for v in ("ocpp2.0.1", "ocpp2.1")
    },
}


async def test_every_call_a_service_consumes_has_a_typed_event_in_every_version(
    answer: Any, bus: Any, examples: Any
) -> None:
    for version, actions in TYPED_PER_VERSION.items():
        for action, event_type in actions.items():
            for full in (False, True):
                bus.published.clear()
                await answer([2, "t", action, examples.payload(version, action, full=full)], version)
                assert [e.TYPE for e in bus.events] == [event_type], (version, action)


async def test_notify_event_and_report_keep_the_device_model_words(answer: Any, bus: Any) -> None:
    event = {
        "generatedAt": "2026-01-01T00:00:00Z",
        "seqNo": 0,
        "eventData": [
            {
                "eventId": 7,
                "timestamp": "2026-01-01T00:00:00Z",
                "trigger": "Alerting",
                "actualValue": "true",
                "techCode": "E42",
                "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                "variable": {"name": "Problem"},
                "eventNotificationType": "HardWiredNotification",
            }
        ],
    }
    await answer([2, "e", "NotifyEvent", event], "ocpp2.0.1")
    (notified,) = bus.events
    (device_event,) = notified.events
    assert (device_event.component.name, device_event.component.evse_id, device_event.variable.name) == (
        "Connector",
        1,
        "Problem",
    )
    assert (device_event.actual_value, device_event.tech_code, device_event.cleared) == ("true", "E42", False)
    report = {
        "requestId": 3,
        "generatedAt": "2026-01-01T00:00:00Z",
        "seqNo": 0,
        "tbc": True,
        "reportData": [
            {
                "component": {"name": "SecurityCtrlr"},
                "variable": {"name": "SecurityProfile"},
                "variableAttribute": [{"type": "Actual", "value": "1", "mutability": "ReadOnly"}],
                "variableCharacteristics": {"dataType": "integer", "supportsMonitoring": False},
            }
        ],
    }
    bus.published.clear()
    await answer([2, "r", "NotifyReport", report], "ocpp2.1")
    (reported,) = bus.events
    assert (reported.request_id, reported.tbc, reported.items[0].attributes[0].value) == (3, True, "1")
    assert reported.items[0].characteristics.data_type == "integer"

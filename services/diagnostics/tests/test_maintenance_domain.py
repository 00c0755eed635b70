"""Pure rules of remote maintenance: command translation per version, answer classification, the
configuration mapping and drift, and firmware campaign decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from voltline_diagnostics.domain import firmware as fw
from voltline_diagnostics.domain.commands import OCPP16, OCPP21, OCPP201, CommandNotPossible, classify, translate
from voltline_diagnostics.domain.config_mapping import UnknownSetting, variable_2x
from voltline_diagnostics.domain.config_profiles import drift, reported_values

NOW = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)


def test_reset_maps_soft_and_hard_per_version_and_when() -> None:
    assert translate("reset", {"type": "soft"}, OCPP16, 1).payload == {"type": "Soft"}
    assert translate("reset", {"type": "soft"}, OCPP201, 1).payload == {"type": "OnIdle"}
    assert translate("reset", {"type": "soft", "when": "immediate", "evse_id": 2}, OCPP21, 1).payload == {
        "type": "Immediate",
        "evseId": 2,
    }
    with pytest.raises(CommandNotPossible) as refused:
        translate("reset", {"type": "hard", "evse_id": 1}, OCPP16, 1)
    assert refused.value.field == "evse_id" and not refused.value.not_supported


def test_availability_of_the_whole_station() -> None:
    assert translate("availability", {"operative": True}, OCPP16, 1).payload == {"connectorId": 0, "type": "Operative"}
    assert translate("availability", {"operative": True}, OCPP201, 1).payload == {"operationalStatus": "Operative"}
    both = translate("availability", {"operative": False, "evse_id": 2, "connector_id": 1}, OCPP201, 1)
    assert both.payload == {"operationalStatus": "Inoperative", "evse": {"id": 2, "connectorId": 1}}


def test_2x_only_commands_are_not_supported_on_16() -> None:
    with pytest.raises(CommandNotPossible) as refused:
        translate("set-monitoring-level", {"severity": 3}, OCPP16, 1)
    assert refused.value.not_supported
    with pytest.raises(CommandNotPossible):
        translate("trigger", {"message": "transaction_event"}, OCPP16, 1)


def test_logs_and_firmware_per_version() -> None:
    log16 = translate("get-log", {"log_type": "diagnostics", "location": "ftp://h/", "retries": 2}, OCPP16, 7)
    assert (log16.action, log16.payload) == ("GetDiagnostics", {"location": "ftp://h/", "retries": 2})
    sec16 = translate("get-log", {"log_type": "security", "location": "http://h/u"}, OCPP16, 7)
    assert sec16.action == "GetLog" and sec16.payload["logType"] == "SecurityLog" and sec16.payload["requestId"] == 7
    params = {"location": "http://h/f.bin", "retrieve_at": "2026-12-05T06:00:00Z"}
    assert translate("update-firmware", params, OCPP16, 3).payload == {
        "location": "http://h/f.bin",
        "retrieveDate": "2026-12-05T06:00:00Z",
    }
    signed = {**params, "signing_certificate": "PEM", "signature": "SIG"}
    assert translate("update-firmware", signed, OCPP16, 3).action == "SignedUpdateFirmware"
    two = translate("update-firmware", signed, OCPP21, 3).payload
    assert two["firmware"]["signature"] == "SIG" and two["requestId"] == 3


def test_configuration_names() -> None:
    assert translate("set-configuration", {"key": "MyVendorKey", "value": "1"}, OCPP16, 1).payload == {
        "key": "MyVendorKey",
        "value": "1",
    }
    raw = variable_2x("EVSE[2].Power[max]")
    assert (raw.component, raw.component_instance, raw.variable, raw.variable_instance) == ("EVSE", "2", "Power", "max")
    with pytest.raises(UnknownSetting):
        variable_2x("NoDot")
    with pytest.raises(CommandNotPossible) as refused:
        translate("set-configuration", {"key": "NoDot", "value": "1"}, OCPP201, 1)
    assert refused.value.field == "key"


@pytest.mark.parametrize(
    ("outcome", "payload", "code", "status"),
    [
        ("answered", {"status": "Accepted"}, None, "accepted"),
        ("answered", {"status": "Unlocked"}, None, "accepted"),
        ("answered", {"status": "UnlockFailed"}, None, "rejected"),
        ("answered", {"status": "NotImplemented"}, None, "not_supported"),
        ("answered", {"configurationKey": []}, None, "accepted"),
        ("call_error", None, "NotImplemented", "not_supported"),
        ("call_error", None, "InternalError", "failed"),
        ("offline", None, None, "station_offline"),
        ("timeout", None, None, "timed_out"),
        ("invalid", None, None, "failed"),
    ],
)
def test_classify(outcome: str, payload: dict[str, str] | None, code: str | None, status: str) -> None:
    assert classify(outcome, payload, code, None).status == status


def test_classify_reboot_required_and_an_action_the_version_lacks() -> None:
    assert classify("answered", {"status": "RebootRequired"}, None, None).reboot_required
    lacking = classify("invalid", None, None, "GetLog is not an action the CSMS can send in ocpp1.6")
    assert lacking.status == "not_supported"


def test_drift_from_reported_answers() -> None:
    reported = reported_values(
        "GetVariables",
        None,
        {
            "getVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "attributeValue": "300",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        },
    )
    items = drift({"heartbeat_interval": "600", "Bad": "1"}, OCPP201, reported)
    assert [(i.name, i.reported, i.in_sync, i.problem is not None) for i in items] == [
        ("Bad", None, False, True),
        ("heartbeat_interval", "300", False, False),
    ]
    accepted = reported_values(
        "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "600"}, {"status": "RebootRequired"}
    )
    assert accepted == {"HeartbeatInterval": ("600", True)}


PLAN = fw.Plan(2, 3, Decimal("0.3"), 2, timedelta(minutes=10))


def targets(*states: tuple[str, str, int | None]) -> list[fw.Target]:
    return [fw.Target(sid, state, batch, NOW if batch is not None else None) for sid, state, batch in states]


def test_canary_first_then_batches_once_the_previous_finished() -> None:
    pending = targets(*((f"S{i}", "pending", None) for i in range(6)))
    assert fw.next_batch(PLAN, pending) == (0, ["S0", "S1"])
    busy = targets(("S0", "sent", 0), ("S1", "succeeded", 0), ("S2", "pending", None))
    assert fw.next_batch(PLAN, busy) is None
    done = targets(("S0", "succeeded", 0), ("S1", "succeeded", 0), *((f"S{i}", "pending", None) for i in range(2, 7)))
    assert fw.next_batch(PLAN, done) == (1, ["S2", "S3", "S4"])


def test_halt_when_the_failure_rate_passes_the_threshold() -> None:
    assert not fw.should_halt(PLAN, targets(("S0", "failed", 0)))  # judged from two finished stations
    assert fw.should_halt(PLAN, targets(("S0", "failed", 0), ("S1", "succeeded", 0)))
    assert not fw.should_halt(PLAN, targets(*((f"S{i}", "succeeded", 0) for i in range(3)), ("S9", "failed", 1)))


def test_station_progress_boot_and_timeout() -> None:
    assert fw.after_notification("sent", "Downloading") == ("downloading", None)
    assert fw.after_notification("installing", "InvalidSignature") == ("failed", "InvalidSignature")
    assert fw.after_notification("succeeded", "InstallationFailed") == ("succeeded", None)
    assert fw.after_boot("awaiting_boot", "2.0", "2.0") == ("succeeded", None)
    assert fw.after_boot("awaiting_boot", "1.0", "2.0")[0] == "failed"
    assert fw.after_boot("downloading", "1.0", "2.0") == ("downloading", None)
    late = fw.Target("S0", "downloading", 0, NOW - timedelta(minutes=11))
    assert fw.timed_out(PLAN, late, NOW) and not fw.timed_out(PLAN, late, NOW - timedelta(minutes=2))


def test_busy_connectors() -> None:
    assert fw.busy({"1": "Available", "2": "Charging"})
    assert not fw.busy({"1": "Available", "2": "Faulted"})


def test_bodies_take_ocpp_spellings_too() -> None:
    from voltline_diagnostics.entrypoints.command_schemas import GetConfiguration, Reset, SetConfiguration, Trigger

    assert Reset.model_validate({"type": "Soft", "when": "OnIdle"}).model_dump(exclude_none=True) == {
        "type": "soft",
        "when": "on_idle",
    }
    assert Trigger.model_validate({"requested_message": "BootNotification"}).message == "boot_notification"
    assert Trigger.model_validate({"message": "heartbeat"}).message == "heartbeat"
    assert GetConfiguration.model_validate({"key": "HeartbeatInterval"}).keys == ["HeartbeatInterval"]
    assert SetConfiguration.model_validate({"key": "k", "value": 600}).value == "600"
    assert SetConfiguration.model_validate({"key": "k", "value": True}).value == "true"
    with pytest.raises(ValueError, match="type"):
        Reset.model_validate({"type": "sideways"})

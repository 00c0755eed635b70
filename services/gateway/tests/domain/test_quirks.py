from __future__ import annotations

from typing import Any

import pytest
from voltline_gateway.adapters.validation import violation
from voltline_gateway.domain.quirks import QuirkRules, repair


def repaired(action: str, payload: dict[str, Any], quirks: set[str], version: str = "ocpp1.6") -> list[str]:
    applied = []
    for _ in range(10):
        error = violation(version, action, payload, response=False)
        if error is None:
            return applied
        name = repair(payload, error, frozenset(quirks))
        if name is None:
            raise AssertionError(f"not repaired: {error.message}")
        applied.append(name)
    raise AssertionError("did not converge")


def test_rules_match_vendor_and_model_globs() -> None:
    rules = QuirkRules({"ACME/Volt-*": ["naive_timestamps"], "*": ["unknown_fields"]})
    assert rules.for_model("ACME", "Volt-22") == {"naive_timestamps", "unknown_fields"}
    assert rules.for_model("Other", "X") == {"unknown_fields"}
    assert rules.for_model(None, None) == {"unknown_fields"}
    with pytest.raises(ValueError, match="unknown quirks"):
        QuirkRules({"*": ["make_it_work"]})


def test_each_quirk_repairs_what_real_chargers_send() -> None:
    status = {
        "connectorId": "1",
        "errorCode": "noerror",
        "status": "Available ",
        "timestamp": "2024-05-01 08:00:00",
        "info": None,
        "vendorSpecific": {"fw": 1},
    }
    applied = repaired(
        "StatusNotification",
        status,
        {"numeric_strings", "enum_case", "naive_timestamps", "null_optionals", "unknown_fields"},
    )
    assert sorted(applied) == sorted(
        ["numeric_strings", "enum_case", "enum_case", "naive_timestamps", "null_optionals", "unknown_fields"]
    )
    assert status == {
        "connectorId": 1,
        "errorCode": "NoError",
        "status": "Available",
        "timestamp": "2024-05-01T08:00:00Z",
    }
    meter = {"connectorId": 1, "meterValue": [{"timestamp": "2024-05-01T08:00:00Z", "sampledValue": [{"value": 12.5}]}]}
    assert repaired("MeterValues", meter, {"numeric_strings"}) == ["numeric_strings"]
    assert meter["meterValue"][0]["sampledValue"][0]["value"] == "12.5"
    boot = {"chargePointVendor": "ACME", "chargePointModel": "M" * 30}
    assert repaired("BootNotification", boot, {"long_strings"}) == ["long_strings"]
    assert len(boot["chargePointModel"]) == 20


def test_nothing_is_repaired_that_is_not_enabled_or_not_repairable() -> None:
    status = {"connectorId": 1, "errorCode": "NoError", "status": "Available", "extra": 1}
    error = violation("ocpp1.6", "StatusNotification", status, response=False)
    assert error is not None and repair(status, error, frozenset({"enum_case"})) is None
    bogus = {"connectorId": 1, "errorCode": "NoError", "status": "Exploded"}
    error = violation("ocpp1.6", "StatusNotification", bogus, response=False)
    assert error is not None and repair(bogus, error, frozenset({"enum_case"})) is None

"""One name for the settings every station has: the 1.6 configuration key and the 2.x Component.Variable.

Anything else is reached raw: a 1.6 key as the station names it, a 2.x variable as `Component.Variable`
(optionally `Component[instance].Variable[instance]`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OCPP16 = "ocpp1.6"

# common name -> (1.6 key, 2.x component, 2.x variable)
COMMON: dict[str, tuple[str, str, str]] = {
    "heartbeat_interval": ("HeartbeatInterval", "OCPPCommCtrlr", "HeartbeatInterval"),
    "websocket_ping_interval": ("WebSocketPingInterval", "OCPPCommCtrlr", "WebSocketPingInterval"),
    "meter_value_sample_interval": ("MeterValueSampleInterval", "SampledDataCtrlr", "TxUpdatedInterval"),
    "meter_values_sampled_data": ("MeterValuesSampledData", "SampledDataCtrlr", "TxUpdatedMeasurands"),
    "clock_aligned_data_interval": ("ClockAlignedDataInterval", "AlignedDataCtrlr", "Interval"),
    "connection_timeout": ("ConnectionTimeOut", "TxCtrlr", "EVConnectionTimeOut"),
    "local_auth_list_enabled": ("LocalAuthListEnabled", "LocalAuthListCtrlr", "Enabled"),
    "local_pre_authorize": ("LocalPreAuthorize", "AuthCtrlr", "LocalPreAuthorize"),
    "authorize_remote_start": ("AuthorizeRemoteTxRequests", "AuthCtrlr", "AuthorizeRemoteStart"),
    "authorization_cache_enabled": ("AuthorizationCacheEnabled", "AuthCacheCtrlr", "Enabled"),
    "stop_transaction_on_ev_side_disconnect": (
        "StopTransactionOnEVSideDisconnect",
        "TxCtrlr",
        "StopTxOnEVSideDisconnect",
    ),
    "reset_retries": ("ResetRetries", "OCPPCommCtrlr", "ResetRetries"),
}

_VARIABLE = re.compile(r"^([A-Za-z0-9_*+\-]+)(?:\[([^\]]+)\])?\.([A-Za-z0-9_*+\-]+)(?:\[([^\]]+)\])?$")


class UnknownSetting(ValueError):
    """A name that is neither a common name nor valid raw access for the station's version."""


@dataclass(frozen=True)
class Variable:
    component: str
    variable: str
    component_instance: str | None = None
    variable_instance: str | None = None

    def ocpp(self) -> dict[str, dict[str, str]]:
        component: dict[str, str] = {"name": self.component}
        variable: dict[str, str] = {"name": self.variable}
        if self.component_instance:
            component["instance"] = self.component_instance
        if self.variable_instance:
            variable["instance"] = self.variable_instance
        return {"component": component, "variable": variable}

    @property
    def name(self) -> str:
        c = f"{self.component}[{self.component_instance}]" if self.component_instance else self.component
        v = f"{self.variable}[{self.variable_instance}]" if self.variable_instance else self.variable
        return f"{c}.{v}"


def key_16(name: str) -> str:
    """The 1.6 configuration key for a common name, or the raw key itself."""
    if name in COMMON:
        return COMMON[name][0]
    if not name or len(name) > 50:
        raise UnknownSetting(f"{name!r} is not a 1.6 configuration key (1-50 characters) nor a common name")
    return name


def variable_2x(name: str) -> Variable:
    """The 2.x variable for a common name or a raw `Component.Variable`."""
    if name in COMMON:
        _, component, variable = COMMON[name]
        return Variable(component, variable)
    match = _VARIABLE.match(name)
    if not match:
        raise UnknownSetting(
            f"{name!r} is neither a common name ({', '.join(sorted(COMMON))}) nor a 2.x 'Component.Variable'"
        )
    component, component_instance, variable, variable_instance = match.groups()
    return Variable(component, variable, component_instance, variable_instance)


def common_name(version: str, key: str) -> str | None:
    """The common name a station-reported key or `Component.Variable` maps to, if any."""
    for name, (k16, component, variable) in COMMON.items():
        if (version == OCPP16 and key == k16) or (version != OCPP16 and key == f"{component}.{variable}"):
            return name
    return None

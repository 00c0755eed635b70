"""What the gateway's use cases need from outside: the OCPP schema check, as a port (ADR 0010).

The check reads the official JSON Schemas shipped with the `ocpp` package and compiles them
(`adapters/validation.py`, wired in `bootstrap.py`); the dispatcher and the command executor only ask it
whether a payload breaks its action's schema, and turn the answer into the CallError or result they owe.
"""

from __future__ import annotations

from typing import Any, Protocol

from voltline_gateway.domain.ocpp_j import OcppError


class Violation(Protocol):
    """What is wrong with a payload: the keyword that failed, where, and the sub-schema it failed."""

    rule: str
    path: list[str | int]
    definition: Any
    value: Any

    @property
    def field(self) -> str:
        """The offending field as a path ("evse/id"), or "(payload)"."""
        ...

    def as_ocpp_error(self, action: str) -> OcppError:
        """The CallError a station gets (or a command's invalid result names) for this violation."""
        ...


class SchemaCheck(Protocol):
    def __call__(self, ocpp_version: str, action: str, payload: Any, *, response: bool) -> Violation | None:
        """The first violation of the action's request (or `response`) schema, or None when `payload` is valid.

        Raises OcppError("NotImplemented") when the version has no such action.
        """
        ...

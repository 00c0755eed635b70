"""The unit of work the diagnostics use cases run in: an interface (service_layer.ports); the SQL one is in adapters."""

from __future__ import annotations

from voltline_diagnostics.service_layer.ports import DiagnosticsUnitOfWork

__all__ = ["DiagnosticsUnitOfWork"]

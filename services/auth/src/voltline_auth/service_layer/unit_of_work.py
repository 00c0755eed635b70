"""The unit of work the auth use cases run in: an interface (service_layer.ports); the SQL one is in adapters."""

from __future__ import annotations

from voltline_auth.service_layer.ports import AuthUnitOfWork

__all__ = ["AuthUnitOfWork"]

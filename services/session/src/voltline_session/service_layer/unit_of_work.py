"""The unit of work the session use cases run in: an interface (service_layer.ports); the SQL one is in adapters."""

from __future__ import annotations

from voltline_session.service_layer.ports import SessionUnitOfWork

__all__ = ["SessionUnitOfWork"]

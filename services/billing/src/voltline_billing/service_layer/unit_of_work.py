"""The unit of work the billing use cases run in: an interface (service_layer.ports); the SQL one is in adapters."""

from __future__ import annotations

from voltline_billing.service_layer.ports import BillingUnitOfWork

__all__ = ["BillingUnitOfWork"]

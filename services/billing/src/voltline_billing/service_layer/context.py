"""What every billing use case needs besides a transaction, built once in bootstrap."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from voltline_events import Topics

from voltline_billing.service_layer.later import Later
from voltline_billing.service_layer.ports import GuestStarts, Mailer, PaymentProvider
from voltline_billing.service_layer.unit_of_work import BillingUnitOfWork


class NotFound(Exception):
    """A named thing does not exist; the message names it."""


class Conflict(Exception):
    """The request clashes with what exists (a duplicate id, an active subscription...)."""


class Invalid(ValueError):
    """Input that breaks a rule; `field` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class BillingConfig:
    default_currency: str = "EUR"
    card_hold_amount: Decimal = Decimal("50.00")
    provider_timeout_s: float = 10.0
    ocpi_country_code: str = "DE"
    ocpi_party_id: str = "VLT"


@dataclass(frozen=True)
class AdhocPorts:
    """Ad-hoc payment by guests (service_layer/adhoc.py): how a start is made, how receipts are mailed."""

    starts: GuestStarts
    mailer: Mailer
    hold_amounts: Mapping[str, Decimal] = field(default_factory=dict)  # per currency; else card_hold_amount
    start_timeout_s: float = 300.0  # a start that began no session by then gives the hold back


@dataclass(frozen=True)
class BillingContext:
    uow: Callable[[], BillingUnitOfWork]
    topics: Topics
    source: str
    clock: Callable[[], datetime]
    provider: PaymentProvider
    config: BillingConfig
    adhoc: AdhocPorts | None = None  # None: no ad-hoc payment pages
    # Provider calls after a consumer's batch has committed (service_layer/later.py); None: right away.
    later: Later | None = None


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"

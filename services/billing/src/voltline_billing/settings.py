"""Billing service settings (environment variables prefixed VOLTLINE_)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, SecretStr
from voltline_chassis.settings import ServiceSettings


class BillingSettings(ServiceSettings):
    service_name: str = "billing"
    http_port: int = Field(default=8003, ge=0, le=65535)
    database_url: str | None = Field(default="sqlite+aiosqlite:///./data/billing.db", repr=False)
    default_currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    # Card sessions: how much is held at session start (in the tariff's currency).
    card_hold_amount: Decimal = Field(default=Decimal("50.00"), ge=0)
    payment_provider: Literal["sandbox", "stripe"] = "sandbox"
    stripe_api_key: SecretStr | None = None
    stripe_api_base: str | None = Field(default=None, description="Override the Stripe API address (tests).")
    provider_timeout_s: float = Field(default=10.0, gt=0)
    # How often the payment worker retries unanswered provider calls and due payments; 0 turns it off.
    payment_retry_interval_s: float = Field(default=30.0, ge=0)
    ocpi_country_code: str = Field(default="DE", pattern=r"^[A-Z]{2}$")
    ocpi_party_id: str = Field(default="VLT", pattern=r"^[A-Z0-9]{3}$")
    # Price transparency (docs/billing.md, "Cost on the station"): the running cost is announced at most this
    # often per session (0: at every session update), and sent to the station when `cost_messages` is on.
    cost_update_interval_s: float = Field(default=60.0, ge=0)
    cost_messages: bool = True
    cost_command_timeout_s: float = Field(default=10.0, gt=0)

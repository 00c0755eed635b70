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
    # Printed on drivers' receipts and invoices (the seller of the charging: name, postal address, VAT id).
    seller_name: str = Field(default="voltline charging (set VOLTLINE_SELLER_NAME)", min_length=1, max_length=200)
    seller_address: str = Field(default="set VOLTLINE_SELLER_ADDRESS", min_length=1, max_length=300)
    seller_vat_id: str = Field(default="set VOLTLINE_SELLER_VAT_ID", min_length=1, max_length=40)
    # Ad-hoc payment by guests on the QR payment page (docs/drivers.md "Paying without an account").
    adhoc_hold_amount: dict[str, Decimal] = Field(
        default_factory=dict,
        description='Pre-authorisation per currency, JSON: {"EUR": "30.00", "GBP": "25.00"}; other currencies hold '
        "card_hold_amount.",
    )
    adhoc_start_timeout_s: float = Field(
        default=300.0, gt=0, description="A guest's charger that started no session by then: the hold is released."
    )
    adhoc_max_attempts_per_hour: int = Field(
        default=10, ge=1, description="Card submissions per client address and hour on the payment page (card testing)."
    )
    auth_url: str | None = Field(default=None, description="The auth service's API: a guest's one-time token.")
    session_url: str | None = Field(default=None, description="The session service's API: a guest's remote start.")
    public_url: str | None = Field(
        default=None, description="Where guests reach billing (the QR codes point there); default its own address."
    )
    stripe_publishable_key: str | None = Field(default=None, description="Stripe.js on the payment page (pk_...).")
    smtp_host: str | None = Field(default=None, description="Receipts by mail; unset: the mail goes to the log.")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_sender: str = "voltline <no-reply@localhost>"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = Field(default=None, repr=False)
    smtp_starttls: bool = True
    # Price transparency (docs/billing.md, "Cost on the station"): the running cost is announced at most this
    # often per session (0: at every session update), and sent to the station when `cost_messages` is on.
    cost_update_interval_s: float = Field(default=60.0, ge=0)
    cost_messages: bool = True
    cost_command_timeout_s: float = Field(default=10.0, gt=0)

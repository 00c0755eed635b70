"""Responses of the wallet, ledger, invoice and plan routes."""

from __future__ import annotations

from pydantic import ConfigDict, Field
from voltline_chassis.schemas import DecimalText, ResponseModel, Timestamp


class WalletOut(ResponseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "driver_id": "drv_1", "currency": "EUR", "balance": "20.00", "credit_limit": "5.00",
                    "available": "25.00", "updated_at": "2026-11-20T10:00:00Z",
                }
            ]
        }
    )  # fmt: skip

    driver_id: str
    currency: str
    balance: DecimalText
    credit_limit: DecimalText
    available: DecimalText = Field(description="balance + credit_limit")
    updated_at: Timestamp


class StatementEntryOut(ResponseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "entry_id": "le_01J9Z6", "kind": "top_up", "reference": "top-up:abc", "amount": "20.00",
                    "currency": "EUR", "created_at": "2026-11-20T10:00:00Z",
                }
            ]
        }
    )  # fmt: skip

    entry_id: str
    kind: str
    reference: str
    amount: DecimalText = Field(description="Top-ups and refunds positive, charges negative.")
    currency: str
    created_at: Timestamp


class AccountBalanceOut(ResponseModel):
    account: str
    currency: str
    balance: DecimalText
    matches_postings: bool


class TrialBalanceOut(ResponseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"balanced": True, "accounts": [], "unbalanced_entries": [], "totals": {"EUR": "0.00"}}]
        }
    )

    balanced: bool
    accounts: list[AccountBalanceOut]
    unbalanced_entries: list[str]
    totals: dict[str, DecimalText] = Field(description="Sum of every account per currency: zero when balanced.")


class InvoiceLineOut(ResponseModel):
    kind: str = Field(description="session, subscription_fee or credit")
    reference: str
    description: str
    amount: DecimalText
    vat_percent: DecimalText | None
    vat: DecimalText
    amount_incl_vat: DecimalText


class DocumentOut(ResponseModel):
    """An invoice or a credit note (which `corrects` an invoice)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "invoice_id": "inv_01J9Z6", "kind": "invoice", "number": "INV-2026-000001",
                    "driver_id": "drv_1", "period": "2026-11", "currency": "EUR", "lines": [],
                    "total_excl_vat": "10.00", "total_vat": "2.10", "total_incl_vat": "12.10", "corrects": None,
                    "reason": None, "issued_at": "2026-12-01T00:00:05Z", "payment_status": "open",
                }
            ]
        }
    )  # fmt: skip

    invoice_id: str
    kind: str = Field(description="invoice or credit_note")
    number: str
    driver_id: str
    period: str | None
    currency: str
    lines: list[InvoiceLineOut]
    total_excl_vat: DecimalText
    total_vat: DecimalText
    total_incl_vat: DecimalText
    corrects: str | None
    reason: str | None
    issued_at: Timestamp
    payment_status: str = Field(description="open or paid")


class PlanOut(ResponseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "plan_id": "commuter", "name": "Commuter", "currency": "EUR", "monthly_fee": "9.99",
                    "included_kwh": "50", "energy_discount_percent": "10", "session_fee_discount_percent": "100",
                    "vat_percent": "21",
                }
            ]
        }
    )  # fmt: skip

    plan_id: str
    name: str
    currency: str
    monthly_fee: DecimalText
    included_kwh: DecimalText
    energy_discount_percent: DecimalText
    session_fee_discount_percent: DecimalText
    vat_percent: DecimalText | None

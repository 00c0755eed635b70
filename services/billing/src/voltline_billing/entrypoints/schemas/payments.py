"""Responses of the payment routes: payment methods, payments with their operations, refunds."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field
from voltline_chassis.schemas import DecimalText, ResponseModel, Timestamp


class MethodOut(ResponseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "method_id": "pm_01J9Z6", "driver_id": "drv_1", "type": "card", "token": "…4242",
                    "provider": "stripe", "label": "Visa", "is_default": True, "status": "active",
                    "created_at": "2026-11-20T10:00:00Z",
                }
            ]
        }
    )  # fmt: skip

    method_id: str
    driver_id: str
    type: str = Field(description="card, wallet or postpaid")
    token: str | None = Field(description="The provider's token, masked to its last four characters.")
    provider: str | None
    label: str | None
    is_default: bool
    status: str


class OperationOut(ResponseModel):
    """One call to the payment provider (hold, capture, release, refund) and its outcome."""

    id: int
    kind: str
    idempotency_key: str
    amount: DecimalText
    outcome: str
    provider_ref: str | None
    message: str | None
    at: Timestamp


class RefundOut(ResponseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "refund_id": "rf_01J9Z6", "payment_id": "pay_01J9Z6", "amount": "2.00", "currency": "EUR",
                    "reason": "faulty connector", "state": "succeeded", "idempotency_key": "refund:rf_01J9Z6",
                    "provider_ref": "re_123", "last_error": None, "created_at": "2026-11-20T12:00:00Z",
                    "updated_at": "2026-11-20T12:00:01Z",
                }
            ]
        }
    )  # fmt: skip

    refund_id: str
    payment_id: str
    amount: DecimalText
    currency: str
    reason: str | None
    state: str = Field(description="pending, succeeded or failed")
    idempotency_key: str
    provider_ref: str | None
    last_error: str | None
    created_at: Timestamp
    updated_at: Timestamp


_PAYMENT_EXAMPLE: dict[str, Any] = {
    "payment_id": "pay_01J9Z6", "session_id": "S-1", "cdr_id": "cdr_01J9Z6", "driver_id": "drv_1",
    "method": "card", "method_id": "pm_01J9Z6", "provider": "stripe", "currency": "EUR", "state": "captured",
    "attempt": 1, "provider_ref": "pi_123", "last_error": None, "invoice_id": None,
    "created_at": "2026-11-20T10:00:00Z", "updated_at": "2026-11-20T11:00:02Z", "hold_amount": "50.00",
    "held": "0.00", "due": "4.48", "captured": "4.48", "refunded": "0.00", "needs_attention": False,
}  # fmt: skip


class PaymentOut(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_PAYMENT_EXAMPLE]})

    payment_id: str
    session_id: str
    cdr_id: str | None
    driver_id: str | None
    method: str
    method_id: str | None
    provider: str | None
    currency: str
    state: str
    attempt: int
    provider_ref: str | None
    last_error: str | None
    invoice_id: str | None
    created_at: Timestamp
    updated_at: Timestamp
    hold_amount: DecimalText | None
    held: DecimalText | None
    due: DecimalText | None
    captured: DecimalText | None
    refunded: DecimalText | None
    needs_attention: bool = Field(description="Failed, unassigned, declined, or the last call erred.")


class PaymentDetailOut(PaymentOut):
    """A payment with the provider calls made for it and its refunds."""

    operations: list[OperationOut]
    refunds: list[RefundOut]


class SandboxOperationsOut(ResponseModel):
    items: list[dict[str, Any]] = Field(description="The calls the sandbox provider received, in order.")
    intents: Any = Field(description="The sandbox's payment intents and their states.")

"""The billing operator API (/api/v1), one router per resource."""

from __future__ import annotations

from fastapi import APIRouter

from voltline_billing.entrypoints.api import cdrs, invoices, me, payments, plans, tariffs, wallets
from voltline_billing.service_layer.context import BillingContext


def build_routers(ctx: BillingContext, sandbox: object | None = None) -> list[APIRouter]:
    routers = [
        tariffs.build_router(ctx),
        cdrs.build_router(ctx),
        payments.build_router(ctx),
        wallets.build_router(ctx),
        invoices.build_router(ctx),
        plans.build_router(ctx),
        me.build_operator_router(ctx),
    ]
    if sandbox is not None:
        routers.append(payments.sandbox_router(sandbox))
    return routers

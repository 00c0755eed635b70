"""The same flows on the embedded default store (SQLite, as under `make run`): exact CDR, one capture,
wallet ledger, gapless invoice numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from billing_testing import ended, running_billing, started

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


async def test_billing_on_sqlite(kafka: Any, postgres: Any, sqlite_url: str) -> None:
    async with running_billing(kafka, postgres, database_url=sqlite_url) as billing:
        body = {"tariff_id": "STD", "currency": "EUR", "energy_price_per_kwh": "0.35", "time_price_per_hour": "1.20",
                "session_fee": "1.00", "vat_percent": "19", "default": True}  # fmt: skip
        await billing.post("/tariffs", body, expect=201)
        await billing.post("/drivers/D-1/payment-methods", {"type": "card", "token": "tok_visa"}, expect=201)
        await billing.post("/drivers/D-2/payment-methods", {"type": "wallet"}, expect=201)
        await billing.post("/drivers/D-3/payment-methods", {"type": "postpaid"}, expect=201)
        await billing.post("/wallets/D-2/top-ups", {"amount": "20", "currency": "EUR"}, expect=201)
        end = T0 + timedelta(minutes=75)
        for session, driver in (("S-1", "D-1"), ("S-2", "D-2"), ("S-3", "D-3")):
            await billing.publish(started(session, "CP-1", T0, driver_id=driver))
            await billing.publish(ended(session, "CP-1", T0, end, 22_500, driver_id=driver))
        await billing.publish(ended("S-1", "CP-1", T0, end, 22_500, driver_id="D-1"))
        assert (await billing.cdr("S-1"))["total_incl_vat"] == "12.35"
        assert (await billing.payment("S-1", state="paid"))["captured"] == "12.35"
        assert (await billing.payment("S-2", state="paid"))["captured"] == "12.35"
        await billing.payment("S-3", state="postpaid")
        assert [o["kind"] for o in billing.sandbox.operations if o["key"].startswith("S-1:")] == [
            "authorize",
            "capture",
        ]
        assert (await billing.get("/wallets/D-2"))["balance"] == "7.65"
        assert (await billing.get("/ledger/trial-balance"))["balanced"] is True
        [invoice] = (await billing.post("/invoices/run", {"period": "2026-11"}, expect=200))["items"]
        assert invoice["number"].endswith("-000001") and invoice["total_incl_vat"] == "12.35"

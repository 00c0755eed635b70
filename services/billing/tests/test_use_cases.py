"""The billing use cases on in-memory fakes (billing_fakes): no Kafka, no database, milliseconds each.

The same flows over Kafka and each real database are the integration tests (test_card_sessions,
test_sqlite_store, test_invoices_plans); these prove the rules of the use cases themselves.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from billing_fakes import NOW, FakeBillingUnitOfWork, FakeInvoices, Fakes, fake_billing
from voltline_billing.domain.tariffs import simple_tariff
from voltline_billing.service_layer import invoices, tariffs, wallets
from voltline_billing.service_layer.context import Conflict, Invalid, NotFound
from voltline_billing.service_layer.ports import Duplicate
from voltline_billing.service_layer.sessions import Ended, Started, running_cost, session_ended, session_started
from voltline_events import decode_payload

STD = simple_tariff("STD", "EUR", Decimal("0.35"), time_price_per_hour=Decimal("1.20"), session_fee=Decimal("1.00"),
                    vat_percent=Decimal("19"))  # fmt: skip
END = NOW + timedelta(minutes=75)


@pytest.fixture
def fakes() -> Fakes:
    return fake_billing()


def start(session_id: str = "S-1", station_id: str = "CP-1", driver_id: str | None = None) -> Started:
    return Started(uuid4(), session_id, station_id, 1, 1, "TOKEN-1", driver_id, NOW)


def end(started: Started, energy_wh: int = 22_500) -> Ended:
    return Ended(uuid4(), started, END, energy_wh, "EVDisconnected", (), ())


async def add_method(fakes: Fakes, driver_id: str, kind: str, token: str | None = None) -> None:
    async with fakes.uow() as uow:
        await uow.payments.add_method(
            method_id=f"pm_{driver_id}", driver_id=driver_id, type=kind, token=token, provider=None, label=None,
            is_default=True, status="active", created_at=NOW,
        )  # fmt: skip
        await uow.commit()


async def test_a_tariff_id_is_created_once_and_versions_never_start_before_the_last(fakes: Fakes) -> None:
    first = await tariffs.create_tariff(fakes.ctx, STD, default=True)
    assert (first.version, first.valid_from) == (1, None)
    with pytest.raises(Conflict):
        await tariffs.create_tariff(fakes.ctx, STD)

    second = await tariffs.new_version(fakes.ctx, STD, valid_from=NOW + timedelta(days=1))
    assert second.version == 2
    with pytest.raises(Invalid) as refused:
        await tariffs.new_version(fakes.ctx, STD, valid_from=NOW)
    assert refused.value.field == "valid_from"
    assert [t.version for t in await tariffs.versions(fakes.ctx, "STD")] == [1, 2]


async def test_a_station_is_priced_by_its_own_tariff_then_its_group_then_the_default(fakes: Fakes) -> None:
    ctx = fakes.ctx
    for tariff_id in ("DEFAULT", "GROUP", "OWN"):
        await tariffs.create_tariff(
            ctx, STD.model_copy(update={"tariff_id": tariff_id}), default=tariff_id == "DEFAULT"
        )
    await tariffs.set_group(ctx, "motorway", "GROUP", ["CP-1", "CP-2"])
    await tariffs.assign_station(ctx, "CP-1", "OWN")

    found = {s: await tariffs.tariff_for_station(ctx, s) for s in ("CP-1", "CP-2", "CP-3")}

    assert {s: (r.tariff.tariff_id, r.source) for s, r in found.items()} == {
        "CP-1": ("OWN", "station"),
        "CP-2": ("GROUP", "group"),
        "CP-3": ("DEFAULT", "default"),
    }
    with pytest.raises(Invalid):
        await tariffs.assign_station(ctx, "CP-1", "NOPE")


async def test_no_tariff_at_all_is_a_clear_not_found(fakes: Fakes) -> None:
    with pytest.raises(NotFound, match="assign one or set a default"):
        await tariffs.tariff_for_station(fakes.ctx, "CP-1")


async def test_a_session_ends_in_exactly_one_cdr_however_often_it_is_delivered(fakes: Fakes) -> None:
    await tariffs.create_tariff(fakes.ctx, STD, default=True)
    started = start()
    await session_started(fakes.ctx, started)
    await session_started(fakes.ctx, started)  # redelivered

    ended = end(started)
    await session_ended(fakes.ctx, ended)
    await session_ended(fakes.ctx, ended)  # redelivered: same event id
    await session_ended(fakes.ctx, end(started))  # published again: another event id

    async with fakes.uow() as uow:
        [(cdr, state)] = await uow.cdrs.list()
    assert cdr.priced.total_incl_vat == Decimal("12.35") and cdr.priced.tariff_id == "STD"
    assert state == "unassigned"  # no driver: waits for an operator to give it to one
    # the billing topic also carries the tariff events (for analytics): the CDR is announced once
    billing_events = fakes.store.envelopes(fakes.ctx.topics.billing)
    [announced] = [decode_payload(e) for e in billing_events if e.type == "billing.cdr_created"]
    assert announced.cdr_id == cdr.cdr_id and announced.total_incl_vat == Decimal("12.35")


async def test_a_session_without_any_tariff_still_gets_its_cdr_at_zero(fakes: Fakes) -> None:
    started = start()
    await session_started(fakes.ctx, started)
    await session_ended(fakes.ctx, end(started))

    async with fakes.uow() as uow:
        cdr = await uow.cdrs.by_session("S-1")
    assert cdr is not None and cdr.tariff is None
    assert cdr.priced.total_incl_vat == 0 and cdr.priced.energy_wh == 22_500


async def test_a_card_session_is_held_at_start_and_captured_once_at_the_end(fakes: Fakes) -> None:
    await tariffs.create_tariff(fakes.ctx, STD, default=True)
    await add_method(fakes, "D-1", "card", token="tok_visa")
    started = start(driver_id="D-1")

    await session_started(fakes.ctx, started)
    await session_ended(fakes.ctx, end(started))
    await session_ended(fakes.ctx, end(started))

    async with fakes.uow() as uow:
        payment = await uow.payments.by_session("S-1")
    assert payment is not None and payment.state.value == "paid" and payment.captured == Decimal("12.35")
    assert [op["kind"] for op in fakes.provider.operations] == ["authorize", "capture"]


async def test_a_wallet_pays_from_its_balance_and_the_ledger_balances(fakes: Fakes) -> None:
    await tariffs.create_tariff(fakes.ctx, STD, default=True)
    await add_method(fakes, "D-2", "wallet")
    await wallets.top_up(fakes.ctx, "D-2", Decimal("20"), "EUR", "first", "card")
    with pytest.raises(Conflict):  # the same key for another amount
        await wallets.top_up(fakes.ctx, "D-2", Decimal("30"), "EUR", "first", "card")
    started = start(driver_id="D-2")

    await session_started(fakes.ctx, started)
    await session_ended(fakes.ctx, end(started))

    assert (await wallets.wallet(fakes.ctx, "D-2"))["balance"] == "7.65"
    assert (await wallets.trial_balance(fakes.ctx))["balanced"] is True


async def test_the_running_cost_follows_the_updates_and_the_clock(fakes: Fakes) -> None:
    await tariffs.create_tariff(fakes.ctx, STD, default=True)
    await session_started(fakes.ctx, start())
    fakes.clock.advance(timedelta(minutes=30))

    info, priced = await running_cost(fakes.ctx, "S-1")

    assert info["status"] == "active" and priced is not None
    assert priced.duration_s == 1800
    with pytest.raises(NotFound):
        await running_cost(fakes.ctx, "S-NOPE")


async def test_an_invoice_number_taken_meanwhile_skips_that_driver_without_losing_the_others(fakes: Fakes) -> None:
    """Two invoice runs at once: the loser's unit of work fails with Duplicate, which the run tolerates."""
    await tariffs.create_tariff(fakes.ctx, STD, default=True)
    for driver in ("D-3", "D-4"):
        await add_method(fakes, driver, "postpaid")
        started = start(session_id=f"S-{driver}", driver_id=driver)
        await session_started(fakes.ctx, started)
        await session_ended(fakes.ctx, end(started))
    fakes.clock.advance(timedelta(days=30))
    lost: list[str] = []

    class LosingInvoices(FakeInvoices):
        async def add(self, **values: Any) -> None:
            if values["driver_id"] == "D-3":
                lost.append(values["driver_id"])
                raise Duplicate("invoice number taken by a concurrent run")
            await super().add(**values)

    class RacingUnitOfWork(FakeBillingUnitOfWork):
        def attach_repositories(self, tables: dict[str, Any]) -> None:
            super().attach_repositories(tables)
            self.invoices = LosingInvoices(tables)

    racing = replace(fakes.ctx, uow=lambda: RacingUnitOfWork(fakes.store))
    issued = await invoices.run_month(racing, "2026-11")

    assert [doc["driver_id"] for doc in issued] == ["D-4"] and lost == ["D-3"]
    async with fakes.uow() as uow:
        assert await uow.invoices.exists("invoice", "D-3", "2026-11", "EUR") is False

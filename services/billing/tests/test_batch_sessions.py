"""Session starts and ends inside the consumer's batches: the same CDRs, payments and provider calls as one by
one, and no provider call before the batch has committed (none at all if it rolls back); the cost path's part
of the session events in the same batches (ADR 0030): station messages after the commit, failures isolated."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from billing_testing import ended, started, updated
from voltline_billing.adapters.cost_repository import SqlCostUnitOfWork, session_costs
from voltline_billing.adapters.orm import billing_sessions, cdrs, payment_operations, payments
from voltline_billing.adapters.sandbox_provider import SandboxProvider
from voltline_billing.adapters.unit_of_work import SqlBillingUnitOfWork
from voltline_billing.bootstrap import MIGRATIONS
from voltline_billing.domain.tariffs import simple_tariff
from voltline_billing.entrypoints.consumers import build_dispatcher
from voltline_billing.service_layer.context import BillingConfig, BillingContext
from voltline_billing.service_layer.costs import CostsContext
from voltline_billing.service_layer.driver_payments import add_method
from voltline_billing.service_layer.later import Later
from voltline_billing.service_layer.tariffs import create_tariff, resolve
from voltline_billing.service_layer.wallets import top_up
from voltline_events import Envelope, Topics
from voltline_store import BatchFailed, TransactionBatch, create_engine, run_migrations, session_factory

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
DRIVERS = {"D-card": "tok_visa", "D-declined": "tok_declined", "D-wallet": None, None: None}


@asynccontextmanager
async def billing(url: str, later: Later | None) -> AsyncIterator[tuple[BillingContext, SandboxProvider, Any]]:
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    factory = session_factory(engine)
    sandbox = SandboxProvider()
    ctx = BillingContext(
        uow=lambda: SqlBillingUnitOfWork(factory), topics=Topics(""), source="test",
        clock=lambda: T0 + timedelta(days=1), provider=sandbox, config=BillingConfig(), later=later,
    )  # fmt: skip
    tariff = simple_tariff("STD", "EUR", Decimal("0.35"), time_price_per_hour=Decimal("1.20"),
                           session_fee=Decimal("1.00"), vat_percent=Decimal("19"))  # fmt: skip
    await create_tariff(ctx, tariff, default=True)
    await add_method(ctx, "D-card", "card", "tok_visa", None, True)
    await add_method(ctx, "D-declined", "card", "tok_declined", None, True)
    await add_method(ctx, "D-wallet", "wallet", None, None, True)
    await top_up(ctx, "D-wallet", Decimal("3.00"), "EUR", "top-up-1", "cash")  # enough for some sessions, not all
    try:
        yield ctx, sandbox, factory
    finally:
        await engine.dispose()


def session_events() -> list[Envelope]:
    """Starts, updates and ends of sessions of every payment kind, interleaved; one ends right after its start,
    one end comes twice (republished with a new event id), one update arrives after its session's end."""
    events: list[Envelope] = []
    drivers = ["D-card", "D-declined", "D-wallet", None, "D-card", "D-wallet"]
    for n, driver in enumerate(drivers):
        events.append(started(f"S{n}", f"CP-{n % 3}", T0 + timedelta(minutes=n), driver_id=driver))
    for step in range(1, 4):
        for n in range(len(drivers)):
            events.append(updated(f"S{n}", f"CP-{n % 3}", T0 + timedelta(minutes=n + 10 * step), 1000 * step * (n + 1)))
    for n, driver in enumerate(drivers):
        start, end = T0 + timedelta(minutes=n), T0 + timedelta(minutes=n + 35)
        events.append(ended(f"S{n}", f"CP-{n % 3}", start, end, 3000 * (n + 1) + 7, driver_id=driver))
    events.append(ended("S0", "CP-0", T0, T0 + timedelta(minutes=35), 3007, driver_id="D-card"))  # republished
    events.append(updated("S1", "CP-1", T0 + timedelta(minutes=50), 99_999))  # after the end: changes nothing
    events.append(started("S9", "CP-0", T0 + timedelta(hours=1), driver_id="D-card"))  # short: start, end
    events.append(ended("S9", "CP-0", T0 + timedelta(hours=1), T0 + timedelta(hours=1, minutes=5), 500, "D-card"))
    return events


async def outcome(factory: Any, sandbox: SandboxProvider) -> dict[str, Any]:
    """Everything billing stored and asked the provider, without generated ids and times."""
    async with factory() as db:
        sessions = [dict(r._mapping) for r in await db.execute(sa.select(billing_sessions))]
        cdr_rows = [dict(r._mapping) for r in await db.execute(sa.select(cdrs))]
        pay_rows = [dict(r._mapping) for r in await db.execute(sa.select(payments))]
        ops = [dict(r._mapping) for r in await db.execute(sa.select(payment_operations))]
    by_payment = {p["payment_id"]: p["session_id"] for p in pay_rows}
    strip = {"cdr_id", "payment_id", "method_id", "created_at", "updated_at", "id", "provider_ref", "at"}

    def clean(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
        return sorted(({k: v for k, v in r.items() if k not in strip} for r in rows), key=lambda r: str(r[key]))

    for op in ops:
        op["session_id"] = by_payment[op["payment_id"]]
    return {
        "sessions": clean(sessions, "session_id"),
        "cdrs": clean(cdr_rows, "session_id"),
        "payments": clean(pay_rows, "session_id"),
        "operations": sorted(str(sorted((k, str(v)) for k, v in op.items() if k not in strip)) for op in ops),
        "provider": sorted((o["kind"], o["key"], o["amount"], o["outcome"]) for o in sandbox.operations),
    }


async def in_batches(factory: Any, handle: Any, events: list[Envelope], batch_size: int) -> None:
    """The events handled as the consumer does, `batch_size` to a batch transaction."""
    scope = TransactionBatch(factory)
    for first in range(0, len(events), batch_size):
        chunk = events[first : first + batch_size]
        async with scope(chunk):
            for envelope in chunk:
                await handle(envelope)


@pytest.mark.parametrize("batch_size", [1, 5, 100])
async def test_batched_starts_and_ends_give_the_same_cdrs_payments_and_provider_calls_as_one_by_one(
    sqlite_url: str, batch_size: int
) -> None:
    events = session_events()
    async with billing(sqlite_url, None) as (ctx, sandbox, factory):
        handle = build_dispatcher(ctx)
        for envelope in events:  # one by one, each its own transaction, provider calls in line
            await handle(envelope)
        expected = await outcome(factory, sandbox)
    later = Later()
    async with billing(sqlite_url.replace(".db", "-batched.db"), later) as (ctx, sandbox, factory):
        handle = build_dispatcher(ctx)
        await in_batches(factory, handle, events, batch_size)
        await later.idle()
        got = await outcome(factory, sandbox)
        await later.close()
    assert len(expected["cdrs"]) == 7 and {p["state"] for p in expected["payments"]} >= {"paid", "failed"}
    assert got == expected


async def test_no_provider_call_inside_a_batch_and_none_when_it_rolls_back(sqlite_url: str) -> None:
    later = Later()
    async with billing(sqlite_url, later) as (ctx, sandbox, factory):
        handle = build_dispatcher(ctx)
        scope = TransactionBatch(factory)
        events = [started("S1", "CP-1", T0, driver_id="D-card"), ended("S1", "CP-1", T0, T0 + timedelta(hours=1), 9000)]
        with pytest.raises(RuntimeError):
            async with scope(events):
                for envelope in events:
                    await handle(envelope)
                assert sandbox.operations == []  # not while the transaction is open
                raise RuntimeError("the batch fails after its handlers ran")
        await later.idle()
        assert sandbox.operations == []  # a rolled-back batch asks the provider nothing
        async with factory() as db:
            assert (await db.execute(sa.select(sa.func.count()).select_from(payments))).scalar() == 0
        async with scope(events):  # handled again: committed, then the hold and its capture, once each
            for envelope in events:
                await handle(envelope)
            assert sandbox.operations == []
        await later.idle()
        assert [(o["kind"], o["key"]) for o in sandbox.operations] == [
            ("authorize", "S1:hold"),
            ("capture", "S1:capture"),
        ]
        await later.close()


class Display:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, station_id: str, action: str, payload: dict[str, Any], ocpp_version: str | None) -> str:
        self.sent.append((station_id, action))
        return "answered"


class BrokenCosts(SqlCostUnitOfWork):
    """The cost path's store failing (a bug, a bad row): billing's own work of the event must not be lost."""

    def attach_repositories(self) -> None:
        super().attach_repositories()

        async def fail(session_id: str) -> None:
            raise RuntimeError("session_costs unreadable")

        self.costs.get = fail  # type: ignore[method-assign,assignment]


async def test_the_cost_path_in_billings_batch_messages_the_station_only_after_the_commit(sqlite_url: str) -> None:
    later, display = Later(), Display()
    async with billing(sqlite_url, Later()) as (ctx, _, factory):
        c = CostsContext(uow=lambda: SqlCostUnitOfWork(factory), topics=Topics(""), source="test", clock=ctx.clock,
                         display=display, later=later)  # fmt: skip
        handle = build_dispatcher(ctx, c)
        event = started("S1", "CP-1", T0, ocpp_version="ocpp1.6", transaction_id="7")  # 1.6: SetUserPrice
        async with TransactionBatch(factory)([event]):
            await handle(event)
            assert display.sent == []
        await later.idle()
        assert display.sent == [("CP-1", "DataTransfer")]
        async with factory() as db:
            assert (await db.execute(sa.select(session_costs.c.transaction_id))).scalars().all() == ["7"]
        await later.close()
        assert ctx.later is not None
        await ctx.later.close()


async def test_a_failing_cost_path_fails_the_batch_and_handled_alone_keeps_billings_work(sqlite_url: str) -> None:
    async with billing(sqlite_url, Later()) as (ctx, _, factory):
        c = CostsContext(uow=lambda: BrokenCosts(factory), topics=Topics(""), source="test", clock=ctx.clock,
                         display=Display())  # fmt: skip
        handle = build_dispatcher(ctx, c)
        event = started("S1", "CP-1", T0)
        with pytest.raises(BatchFailed):  # the consumer then handles the event alone
            async with TransactionBatch(factory)([event]):
                await handle(event)
        await handle(event)  # alone: the cost path's failure is logged, billing's session and payment kept
        async with factory() as db:
            assert (await db.execute(sa.select(billing_sessions.c.session_id))).scalars().all() == ["S1"]
            assert (await db.execute(sa.select(payments.c.session_id))).scalars().all() == ["S1"]
        assert ctx.later is not None
        await ctx.later.close()


@pytest.mark.parametrize("store", ["sqlite_url", "pg_url"])
async def test_tariff_resolution_in_a_batch_answers_as_the_queries_do(
    store: str, request: pytest.FixtureRequest
) -> None:
    """The batch reads groups, assignments and versions at once and answers in memory (TariffRepository)."""
    url = request.getfixturevalue(store)
    rnd = random.Random(12)
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    factory = session_factory(engine)
    stations = [f"CP-{n}" for n in range(8)]
    instants = [T0 + timedelta(hours=h) for h in range(-3, 30, 2)]
    try:
        async with SqlBillingUnitOfWork(factory) as uow:
            for name in ("A", "B", "C"):
                for version in (1, 2, 3):
                    valid_from = None if version == 1 else T0 + timedelta(hours=rnd.randint(-5, 25))
                    tariff = simple_tariff(name, "EUR", Decimal(version)).model_copy(
                        update={"version": version, "valid_from": valid_from}
                    )
                    await uow.tariffs.add(tariff, T0)
            for station in stations[:6]:
                if rnd.random() < 0.5:
                    await uow.tariffs.set_group(station, rnd.choice(["G1", "G2"]))
            scopes = [("station", s) for s in stations[:5]] + [("group", "G1"), ("group", "G2"), ("default", "")]
            for _ in range(20):
                scope, scope_id = rnd.choice(scopes)
                valid_from = rnd.choice([None, T0 + timedelta(hours=rnd.randint(-5, 25))])
                await uow.tariffs.assign(scope, scope_id, rnd.choice("ABC"), valid_from, T0)
            await uow.commit()
        expected = {}
        async with SqlBillingUnitOfWork(factory) as uow:  # statement by statement
            for station in stations:
                for at in instants:
                    found = await resolve(uow, station, at)
                    expected[station, at] = found and (found.tariff.tariff_id, found.tariff.version, found.source)
        envelopes = [updated("S", station, T0, 0) for station in stations[::2]]  # names only some stations
        async with TransactionBatch(factory)(envelopes) as batch:
            got = {}
            for station in stations:
                for at in instants:
                    async with SqlBillingUnitOfWork(factory) as uow:
                        assert uow.batch is batch
                        found = await resolve(uow, station, at)
                    got[station, at] = found and (found.tariff.tariff_id, found.tariff.version, found.source)
        assert len({v for v in expected.values() if v}) > 5
        assert got == expected
    finally:
        await engine.dispose()

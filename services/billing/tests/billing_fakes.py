"""In-memory fakes of the billing store (service_layer.ports), and a BillingContext wired to them.

They answer like the SQL repositories as far as the use cases can tell (versions, scopes, ordering,
dedupe by unique keys), so a use case tested here behaves the same over the database; the real-store
tests (test_card_sessions, test_invoices_plans, test_sqlite_store, ...) stay as the integration tests.
The payment provider is the sandbox (adapters.sandbox_provider), itself an in-memory provider.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from voltline_billing.adapters.sandbox_provider import SandboxProvider
from voltline_billing.domain.adhoc import GuestPayment
from voltline_billing.domain.cdr import Cdr
from voltline_billing.domain.ledger import Entry
from voltline_billing.domain.payments import IN_FLIGHT, Action, Outcome, Payment, State
from voltline_billing.domain.plans import Plan, Subscription
from voltline_billing.domain.receipts import BillingDetails, IssuedReceipt
from voltline_billing.domain.tariffs import Tariff
from voltline_billing.service_layer.context import AdhocPorts, BillingConfig, BillingContext
from voltline_billing.service_layer.ports import Duplicate, StartRefused
from voltline_devinfra.fakes import FakeClock, FakeStore, FakeUnitOfWork
from voltline_events import Topics

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
_ids = itertools.count(1)


def _page(rows: list[Any], limit: int, offset: int) -> list[Any]:
    return rows[offset : offset + limit]


def _unique(rows: dict[Any, Any], key: Any, what: str) -> None:
    if key in rows:
        raise Duplicate(f"{what} {key!r} exists")


class FakeTariffs:
    def __init__(self, t: dict[str, Any]) -> None:
        self._versions: dict[tuple[str, int], Tariff] = t["tariffs"]
        self._assignments: list[dict[str, Any]] = t["assignments"]
        self._groups: dict[str, str] = t["groups"]

    def _of(self, tariff_id: str) -> list[Tariff]:
        return [t for (tid, _), t in sorted(self._versions.items()) if tid == tariff_id]

    async def latest_version(self, tariff_id: str) -> int | None:
        return max((t.version for t in self._of(tariff_id)), default=None)

    async def add(self, tariff: Tariff, created_at: datetime) -> None:
        _unique(self._versions, (tariff.tariff_id, tariff.version), "tariff version")
        self._versions[(tariff.tariff_id, tariff.version)] = tariff

    async def get(self, tariff_id: str, version: int | None = None) -> Tariff | None:
        found = [t for t in self._of(tariff_id) if not version or t.version == version]
        return found[-1] if found else None

    async def valid_at(self, tariff_id: str, at: datetime) -> Tariff | None:
        found = [t for t in self._of(tariff_id) if t.valid_from is None or t.valid_from <= at]
        return found[-1] if found else None

    async def versions(self, tariff_id: str) -> list[Tariff]:
        return self._of(tariff_id)

    async def list_latest(self, limit: int, offset: int) -> list[Tariff]:
        latest = {tid: t for (tid, _), t in sorted(self._versions.items())}
        return _page([latest[k] for k in sorted(latest)], limit, offset)

    async def has_assignment(self, scope: str, scope_id: str) -> bool:
        return any(a["scope"] == scope and a["scope_id"] == scope_id for a in self._assignments)

    async def assign(
        self, scope: str, scope_id: str, tariff_id: str, valid_from: datetime | None, now: datetime
    ) -> None:
        self._assignments.append(
            {"scope": scope, "scope_id": scope_id, "tariff_id": tariff_id, "valid_from": valid_from}
        )

    async def assigned_at(self, scope: str, scope_id: str, at: datetime) -> str | None:
        for a in reversed(self._assignments):
            if a["scope"] == scope and a["scope_id"] == scope_id and (a["valid_from"] is None or a["valid_from"] <= at):
                return str(a["tariff_id"])
        return None

    async def scopes(self) -> list[tuple[str, str]]:
        return sorted({(a["scope"], a["scope_id"]) for a in self._assignments})

    async def group_of(self, station_id: str) -> str | None:
        return self._groups.get(station_id)

    async def set_group(self, station_id: str, group_id: str) -> None:
        self._groups[station_id] = group_id

    async def group_members(self, group_id: str) -> list[str]:
        return sorted(s for s, g in self._groups.items() if g == group_id)


class FakeSessions:
    def __init__(self, t: dict[str, Any]) -> None:
        self._rows: dict[str, dict[str, Any]] = t["sessions"]

    async def get(self, session_id: str) -> dict[str, Any] | None:
        row = self._rows.get(session_id)
        return None if row is None else dict(row)

    async def add(self, **values: Any) -> None:
        _unique(self._rows, values["session_id"], "session")
        self._rows[values["session_id"]] = {"power_w": None, "last_at": None, **values}

    async def update(self, session_id: str, **values: Any) -> None:
        if session_id in self._rows:
            self._rows[session_id].update(values)


class FakeCdrs:
    def __init__(self, t: dict[str, Any]) -> None:
        self._rows: dict[str, Cdr] = t["cdrs"]
        self._payments: dict[str, dict[str, Any]] = t["payments"]

    async def add(self, cdr: Cdr) -> None:
        _unique(self._rows, cdr.cdr_id, "cdr")
        if await self.by_session(cdr.session_id) is not None:
            raise Duplicate(f"a CDR of session {cdr.session_id} exists")
        self._rows[cdr.cdr_id] = cdr

    async def by_session(self, session_id: str) -> Cdr | None:
        return next((c for c in self._rows.values() if c.session_id == session_id), None)

    async def get(self, cdr_id: str) -> Cdr | None:
        return self._rows.get(cdr_id)

    async def set_driver(self, session_id: str, driver_id: str) -> None:
        cdr = await self.by_session(session_id)
        if cdr is not None and cdr.driver_id is None:
            self._rows[cdr.cdr_id] = replace(cdr, driver_id=driver_id)

    def _state(self, session_id: str) -> str | None:
        return next((p["state"] for p in self._payments.values() if p["session_id"] == session_id), None)

    async def list(
        self,
        *,
        session_id: str | None = None,
        station_id: str | None = None,
        driver_id: str | None = None,
        payment_state: str | None = None,
        ended_from: datetime | None = None,
        ended_before: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[tuple[Cdr, str | None]]:
        rows = [
            (c, self._state(c.session_id))
            for c in sorted(self._rows.values(), key=lambda c: (-c.ended_at.timestamp(), c.cdr_id))
            if (session_id is None or c.session_id == session_id)
            and (station_id is None or c.station_id == station_id)
            and (driver_id is None or c.driver_id == driver_id)
            and (payment_state is None or self._state(c.session_id) == payment_state)
            and (ended_from is None or c.ended_at >= ended_from)
            and (ended_before is None or c.ended_at < ended_before)
        ]
        return _page(rows, limit, offset)

    async def included_wh_used(self, subscription_id: str, month_start: datetime, month_end: datetime) -> int:
        return sum(
            c.priced.included_wh_used
            for c in self._rows.values()
            if c.subscription_id == subscription_id and month_start <= c.started_at < month_end
        )


class FakePayments:
    def __init__(self, t: dict[str, Any]) -> None:
        self._methods: dict[str, dict[str, Any]] = t["methods"]
        self._rows: dict[str, dict[str, Any]] = t["payments"]
        self._operations: list[dict[str, Any]] = t["operations"]
        self._refunds: dict[str, dict[str, Any]] = t["refunds"]
        self._cdrs: dict[str, Cdr] = t["cdrs"]

    async def add_method(self, **values: Any) -> None:
        if values.get("is_default"):
            for m in self._methods.values():
                if m["driver_id"] == values["driver_id"]:
                    m["is_default"] = False
        self._methods[values["method_id"]] = dict(values)

    async def methods(self, driver_id: str) -> list[dict[str, Any]]:
        rows = [m for m in self._methods.values() if m["driver_id"] == driver_id and m["status"] == "active"]
        return [dict(m) for m in sorted(rows, key=lambda m: (m["created_at"], m["method_id"]))]

    async def method(self, method_id: str) -> dict[str, Any] | None:
        return dict(self._methods[method_id]) if method_id in self._methods else None

    async def remove_method(self, method_id: str) -> None:
        self._methods[method_id].update(status="removed", is_default=False)

    async def default_method(self, driver_id: str) -> dict[str, Any] | None:
        methods = await self.methods(driver_id)
        return next((m for m in methods if m["is_default"]), methods[0] if methods else None)

    async def set_default_method(self, driver_id: str, method_id: str) -> None:
        for m in self._methods.values():
            if m["driver_id"] == driver_id:
                m["is_default"] = m["method_id"] == method_id

    async def add(self, payment: Payment, provider: str | None, now: datetime) -> None:
        _unique(self._rows, payment.payment_id, "payment")
        if any(p["session_id"] == payment.session_id for p in self._rows.values()):
            raise Duplicate(f"a payment of session {payment.session_id} exists")
        self._rows[payment.payment_id] = asdict(payment) | {
            "state": payment.state.value, "provider": provider, "cdr_id": None, "invoice_id": None,
            "created_at": now, "updated_at": now,
        }  # fmt: skip

    @staticmethod
    def _payment(row: dict[str, Any]) -> Payment:
        fields = Payment.__dataclass_fields__
        return Payment(**{k: State(v) if k == "state" else v for k, v in row.items() if k in fields})

    async def get(self, payment_id: str, *, lock: bool = False) -> Payment | None:
        row = self._rows.get(payment_id)
        return None if row is None else self._payment(row)

    async def by_session(self, session_id: str, *, lock: bool = False) -> Payment | None:
        row = next((p for p in self._rows.values() if p["session_id"] == session_id), None)
        return None if row is None else self._payment(row)

    async def save(self, payment: Payment, now: datetime, **extra: Any) -> None:
        if payment.payment_id in self._rows:
            values = {k: v for k, v in asdict(payment).items() if k not in ("payment_id", "session_id")}
            self._rows[payment.payment_id].update(values, state=payment.state.value, updated_at=now, **extra)

    async def row(self, payment_id: str) -> dict[str, Any] | None:
        return dict(self._rows[payment_id]) if payment_id in self._rows else None

    async def rows(self, *, limit: int = 100, offset: int = 0, **filters: str | None) -> list[dict[str, Any]]:
        rows = [
            dict(p)
            for p in sorted(self._rows.values(), key=lambda p: (-p["created_at"].timestamp(), p["payment_id"]))
            if all(value is None or p[name] == value for name, value in filters.items())
        ]
        return _page(rows, limit, offset)

    async def actionable(self, limit: int = 100) -> list[str]:
        states = {s.value for s in IN_FLIGHT} | {State.PENDING_HOLD.value}
        rows = [
            p
            for p in self._rows.values()
            if p["state"] in states or (p["state"] == State.DUE.value and p["due"] is not None)
        ]
        return [p["payment_id"] for p in sorted(rows, key=lambda p: p["updated_at"])][:limit]

    def _postpaid(self, before: datetime) -> list[tuple[dict[str, Any], Cdr]]:
        cdrs = {c.session_id: c for c in self._cdrs.values()}
        return [
            (p, cdrs[p["session_id"]])
            for p in self._rows.values()
            if p["method"] == "postpaid" and p["state"] == State.POSTPAID.value and p["invoice_id"] is None
            and p["session_id"] in cdrs and cdrs[p["session_id"]].ended_at < before
        ]  # fmt: skip

    async def postpaid_due(self, driver_id: str, currency: str, before: datetime) -> list[dict[str, Any]]:
        found = [(p, c) for p, c in self._postpaid(before) if p["driver_id"] == driver_id and p["currency"] == currency]
        return [
            {"payment_id": p["payment_id"], "cdr_id": c.cdr_id, "ended_at": c.ended_at}
            for p, c in sorted(found, key=lambda pc: pc[1].ended_at)
        ]

    async def postpaid_drivers(self, before: datetime) -> list[tuple[str, str]]:
        return sorted({(p["driver_id"], p["currency"]) for p, _ in self._postpaid(before)})

    async def mark_invoiced(self, payment_ids: list[str], invoice_id: str) -> None:
        for payment_id in payment_ids:
            self._rows[payment_id]["invoice_id"] = invoice_id

    async def log(self, payment_id: str, action: Action, outcome: Outcome, at: datetime) -> None:
        self._operations.append(
            {"id": next(_ids), "payment_id": payment_id, "kind": action.kind, "idempotency_key": action.idempotency_key,
             "amount": action.amount, "outcome": outcome.kind, "provider_ref": outcome.provider_ref,
             "message": outcome.message, "at": at}
        )  # fmt: skip

    async def operations(self, payment_id: str) -> list[dict[str, Any]]:
        return [dict(o) for o in self._operations if o["payment_id"] == payment_id]

    async def add_refund(self, **values: Any) -> None:
        _unique(self._refunds, values["refund_id"], "refund")
        self._refunds[values["refund_id"]] = dict(values)

    async def refund(self, refund_id: str, *, lock: bool = False) -> dict[str, Any] | None:
        return dict(self._refunds[refund_id]) if refund_id in self._refunds else None

    async def save_refund(self, refund_id: str, **values: Any) -> None:
        self._refunds[refund_id].update(values)

    async def refunds(self, *, payment_id: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        rows = sorted(self._refunds.values(), key=lambda r: r["created_at"])
        return [
            dict(r)
            for r in rows
            if (payment_id is None or r["payment_id"] == payment_id) and (state is None or r["state"] == state)
        ]

    async def pending_refund_total(self, payment_id: str) -> Decimal:
        return sum((r["amount"] for r in await self.refunds(payment_id=payment_id, state="pending")), Decimal(0))


class FakeLedger:
    def __init__(self, t: dict[str, Any]) -> None:
        self._accounts: dict[str, dict[str, Any]] = t["accounts"]
        self._entries: dict[str, dict[str, Any]] = t["entries"]
        self._postings: list[dict[str, Any]] = t["postings"]

    async def account(self, account: str, *, lock: bool = False) -> dict[str, Any] | None:
        return dict(self._accounts[account]) if account in self._accounts else None

    async def open(self, account: str, currency: str, now: datetime, credit_limit: Decimal = Decimal(0)) -> None:
        self._accounts.setdefault(
            account,
            {"account": account, "currency": currency, "balance": Decimal(0), "credit_limit": credit_limit,
             "updated_at": now},
        )  # fmt: skip

    async def set_credit_limit(self, account: str, credit_limit: Decimal, now: datetime) -> None:
        self._accounts[account].update(credit_limit=credit_limit, updated_at=now)

    async def has_entry(self, reference: str) -> bool:
        return any(e["reference"] == reference for e in self._entries.values())

    async def posted(self, reference: str, account: str) -> tuple[str, Decimal] | None:
        for entry in self._entries.values():
            if entry["reference"] == reference:
                for p in self._postings:
                    if p["entry_id"] == entry["entry_id"] and p["account"] == account:
                        return entry["currency"], p["amount"]
        return None

    async def post(self, entry: Entry, now: datetime) -> str:
        if await self.has_entry(entry.reference):
            raise Duplicate(f"ledger entry {entry.reference!r} exists")
        entry_id = f"je_{next(_ids)}"
        self._entries[entry_id] = {"entry_id": entry_id, "kind": entry.kind, "currency": entry.currency,
                                   "reference": entry.reference, "created_at": now}  # fmt: skip
        for posting in entry.postings:
            await self.open(posting.account, entry.currency, now)
            self._postings.append({"entry_id": entry_id, "account": posting.account, "amount": posting.amount})
            account = self._accounts[posting.account]
            account.update(balance=account["balance"] + posting.amount, updated_at=now)
        return entry_id

    async def statement(self, account: str, limit: int, offset: int) -> list[dict[str, Any]]:
        shown = ("entry_id", "kind", "reference", "currency", "created_at")
        rows = [
            {**{k: self._entries[p["entry_id"]][k] for k in shown}, "amount": p["amount"]}
            for p in self._postings
            if p["account"] == account
        ]
        return _page(rows, limit, offset)

    async def trial_balance(self) -> dict[str, Any]:
        recomputed: dict[str, Decimal] = {}
        per_entry: dict[str, Decimal] = {}
        for p in self._postings:
            recomputed[p["account"]] = recomputed.get(p["account"], Decimal(0)) + p["amount"]
            per_entry[p["entry_id"]] = per_entry.get(p["entry_id"], Decimal(0)) + p["amount"]
        return {
            "accounts": {
                name: {
                    "currency": a["currency"],
                    "balance": a["balance"],
                    "recomputed": recomputed.get(name, Decimal(0)),
                }
                for name, a in sorted(self._accounts.items())
            },
            "unbalanced_entries": sorted(e for e, total in per_entry.items() if total != 0),
        }


class FakePlans:
    def __init__(self, t: dict[str, Any]) -> None:
        self._plans: dict[str, Plan] = t["plans"]
        self._subs: dict[str, Subscription] = t["subscriptions"]
        self._usage: dict[tuple[str, str], int] = t["usage"]
        self._fees: dict[tuple[str, str], str] = t["fees"]

    async def add_plan(self, plan: Plan, now: datetime) -> None:
        _unique(self._plans, plan.plan_id, "plan")
        self._plans[plan.plan_id] = plan

    async def plan(self, plan_id: str) -> Plan | None:
        return self._plans.get(plan_id)

    async def plans(self) -> list[Plan]:
        return [self._plans[k] for k in sorted(self._plans)]

    async def add_subscription(self, sub: Subscription) -> None:
        _unique(self._subs, sub.subscription_id, "subscription")
        self._subs[sub.subscription_id] = sub

    async def subscription(self, subscription_id: str) -> Subscription | None:
        return self._subs.get(subscription_id)

    async def subscriptions(self, driver_id: str | None = None) -> list[Subscription]:
        rows = sorted(self._subs.values(), key=lambda s: (s.started_at, s.subscription_id))
        return [s for s in rows if driver_id is None or s.driver_id == driver_id]

    async def active_at(self, driver_id: str, at: datetime) -> Subscription | None:
        return next((s for s in await self.subscriptions(driver_id) if s.active_at(at)), None)

    async def cancel(self, subscription_id: str, at: datetime) -> None:
        self._subs[subscription_id] = replace(self._subs[subscription_id], cancelled_at=at)

    async def usage_for_update(self, subscription_id: str, month: str) -> int:
        return self._usage.setdefault((subscription_id, month), 0)

    async def add_usage(self, subscription_id: str, month: str, wh: int) -> None:
        if (subscription_id, month) in self._usage:
            self._usage[(subscription_id, month)] += wh

    async def fee_invoiced(self, subscription_id: str, period: str) -> bool:
        return (subscription_id, period) in self._fees

    async def mark_fee_invoiced(self, subscription_id: str, period: str, invoice_id: str) -> None:
        _unique(self._fees, (subscription_id, period), "subscription fee")
        self._fees[(subscription_id, period)] = invoice_id


class FakeInvoices:
    def __init__(self, t: dict[str, Any]) -> None:
        self._rows: dict[str, dict[str, Any]] = t["invoices"]
        self._series: dict[str, int] = t["series"]

    async def next_number(self, series: str) -> int:
        self._series[series] = self._series.get(series, 0) + 1
        return self._series[series]

    async def add(self, **values: Any) -> None:
        _unique(self._rows, values["invoice_id"], "invoice")
        self._rows[values["invoice_id"]] = dict(values)

    async def get(self, invoice_id: str, *, lock: bool = False) -> dict[str, Any] | None:
        return dict(self._rows[invoice_id]) if invoice_id in self._rows else None

    async def exists(self, kind: str, driver_id: str, period: str, currency: str) -> bool:
        wanted = {"kind": kind, "driver_id": driver_id, "period": period, "currency": currency}
        return any(all(r.get(k) == v for k, v in wanted.items()) for r in self._rows.values())

    async def list(self, *, limit: int = 100, offset: int = 0, **filters: str | None) -> list[dict[str, Any]]:
        rows = [dict(r) for r in self._rows.values() if all(v is None or r.get(k) == v for k, v in filters.items())]
        return _page(rows, limit, offset)

    async def set_payment_status(self, invoice_id: str, status: str) -> None:
        self._rows[invoice_id]["payment_status"] = status


class FakeReceipts:
    def __init__(self, t: dict[str, Any]) -> None:
        self._rows: dict[str, IssuedReceipt] = t["receipts"]
        self._addresses: dict[str, str] = t["addresses"]
        self._details: dict[str, BillingDetails] = t["details"]

    async def issued(self, cdr_id: str) -> IssuedReceipt | None:
        return self._rows.get(cdr_id)

    async def add(self, receipt: IssuedReceipt) -> None:
        _unique(self._rows, receipt.cdr_id, "receipt")
        if any(r.number == receipt.number for r in self._rows.values()):
            raise Duplicate(f"receipt number {receipt.number} is taken")
        self._rows[receipt.cdr_id] = receipt

    async def station_address(self, station_id: str) -> str | None:
        return self._addresses.get(station_id)

    async def set_station_address(self, station_id: str, address: str, now: datetime) -> None:
        self._addresses[station_id] = address

    async def billing_details(self, driver_id: str) -> BillingDetails | None:
        return self._details.get(driver_id)

    async def set_billing_details(self, driver_id: str, details: BillingDetails, now: datetime) -> None:
        self._details[driver_id] = details


class FakeAdhoc:
    def __init__(self, t: dict[str, Any]) -> None:
        self._rows: dict[str, GuestPayment] = t.setdefault("adhoc", {})
        self._receipts: dict[str, datetime] = t.setdefault("adhoc_receipts", {})
        self._updated: dict[str, datetime] = t.setdefault("adhoc_updated", {})

    async def add(self, guest: GuestPayment) -> None:
        _unique(self._rows, guest.adhoc_id, "guest payment")
        self._rows[guest.adhoc_id] = guest
        self._updated[guest.adhoc_id] = guest.created_at

    async def get(self, adhoc_id: str, *, lock: bool = False) -> GuestPayment | None:
        return self._rows.get(adhoc_id)

    async def by_token(self, id_token: str, *, lock: bool = False) -> GuestPayment | None:
        return next((g for g in self._rows.values() if g.id_token == id_token), None)

    async def by_session(self, session_id: str) -> GuestPayment | None:
        return next((g for g in self._rows.values() if g.session_id == session_id), None)

    async def save(self, guest: GuestPayment, now: datetime) -> None:
        self._rows[guest.adhoc_id] = guest
        self._updated[guest.adhoc_id] = now

    async def evse_busy(self, station_id: str, evse_id: int) -> bool:
        return False  # the fakes' sessions carry no EVSE state worth asking; see test_adhoc_store

    async def starting_before(self, before: datetime, limit: int = 100) -> list[str]:
        found = [g.adhoc_id for g in self._rows.values() if g.state.value == "starting"]
        return [i for i in found if self._updated[i] < before][:limit]

    async def mark_receipt_sent(self, adhoc_id: str, now: datetime) -> bool:
        if adhoc_id in self._receipts:
            return False
        self._receipts[adhoc_id] = now
        return True


def empty_tables() -> dict[str, Any]:
    names = ("tariffs", "groups", "sessions", "cdrs", "methods", "payments", "refunds", "accounts", "entries",
             "plans", "subscriptions", "usage", "fees", "invoices", "series", "receipts", "addresses",
             "details")  # fmt: skip
    return {name: {} for name in names} | {"assignments": [], "operations": [], "postings": []}


class FakeBillingUnitOfWork(FakeUnitOfWork):
    """service_layer.ports.BillingUnitOfWork over a FakeStore."""

    def attach_repositories(self, tables: dict[str, Any]) -> None:
        self.tariffs = FakeTariffs(tables)
        self.sessions = FakeSessions(tables)
        self.cdrs = FakeCdrs(tables)
        self.payments = FakePayments(tables)
        self.ledger = FakeLedger(tables)
        self.plans = FakePlans(tables)
        self.invoices = FakeInvoices(tables)
        self.receipts = FakeReceipts(tables)
        self.adhoc = FakeAdhoc(tables)

    def after_batch(self, key: str, callback: Any) -> bool:
        return False  # never joined to a consumer's batch


@dataclass
class FakeGuestStarts:
    """The auth and session services as a guest's start sees them: `refuse` makes the start fail with that code."""

    refuse: str | None = None
    online: bool | None = True
    tokens: dict[str, str] = field(default_factory=dict)  # id token -> status
    starts: list[tuple[str, int, str]] = field(default_factory=list)

    async def is_online(self, station_id: str) -> bool | None:
        return self.online

    async def create_token(self, id_token: str) -> None:
        self.tokens[id_token] = "Accepted"

    async def remote_start(self, station_id: str, evse_id: int, id_token: str) -> None:
        if self.refuse:
            raise StartRefused(self.refuse)
        self.starts.append((station_id, evse_id, id_token))

    async def retire_token(self, id_token: str) -> None:
        self.tokens[id_token] = "Expired"


@dataclass
class RecordingMailer:
    sent: list[tuple[str, str, str]] = field(default_factory=list)

    async def send(self, to: str, subject: str, body: str) -> None:
        self.sent.append((to, subject, body))


@dataclass
class Fakes:
    ctx: BillingContext
    store: FakeStore
    clock: FakeClock
    provider: SandboxProvider
    starts: FakeGuestStarts = field(default_factory=FakeGuestStarts)
    mailer: RecordingMailer = field(default_factory=RecordingMailer)

    def uow(self) -> FakeBillingUnitOfWork:
        return FakeBillingUnitOfWork(self.store)


def fake_billing(config: BillingConfig | None = None) -> Fakes:
    store = FakeStore(empty_tables())
    clock = FakeClock(NOW)
    provider = SandboxProvider()
    starts, mailer = FakeGuestStarts(), RecordingMailer()
    ctx = BillingContext(
        uow=lambda: FakeBillingUnitOfWork(store),
        topics=Topics(),
        source="billing/test",
        clock=clock,
        provider=provider,
        config=config or BillingConfig(),
        adhoc=AdhocPorts(starts, mailer, {"EUR": Decimal("30.00")}),
    )
    return Fakes(ctx, store, clock, provider, starts, mailer)

"""The cost use cases on in-memory fakes: announcements rate-limited per session, the final one is the CDR's
total and comes once, and every announcement is sent to the station in its protocol's words."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from billing_fakes import NOW, FakeBillingUnitOfWork, fake_billing
from voltline_billing.domain.tariffs import simple_tariff
from voltline_billing.service_layer import costs, tariffs
from voltline_events import decode_payload
from voltline_events.payloads import CdrCreated, SessionCostUpdated

STD = simple_tariff("STD", "EUR", Decimal("0.30"), session_fee=Decimal("1.00"), vat_percent=Decimal("19"))


class FakeCosts:
    def __init__(self, tables: dict[str, Any]) -> None:
        self._rows: dict[str, dict[str, Any]] = tables.setdefault("session_costs", {})

    async def get(self, session_id: str) -> dict[str, Any] | None:
        row = self._rows.get(session_id)
        return dict(row) if row else None

    async def add(self, **values: Any) -> None:
        self._rows[values["session_id"]] = {"announced_at": None, "final_at": None, **values}

    async def update(self, session_id: str, **values: Any) -> None:
        self._rows[session_id].update(values)

    def once_committed(self, key: str, callback: Callable[[], None]) -> None:
        callback()  # the fake commits at once


class FakeCostUnitOfWork(FakeBillingUnitOfWork):
    def attach_repositories(self, tables: dict[str, Any]) -> None:
        super().attach_repositories(tables)
        self.costs = FakeCosts(tables)


class Display:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    async def send(self, station_id: str, action: str, payload: dict[str, Any], ocpp_version: str | None) -> str:
        self.sent.append((station_id, action, payload))
        return "answered"


async def test_rate_limited_running_costs_then_the_final_one_once() -> None:
    fakes = fake_billing()
    display = Display()
    c = costs.CostsContext(uow=lambda: FakeCostUnitOfWork(fakes.store), topics=fakes.ctx.topics, source="test",
                           clock=fakes.clock, display=display, interval=timedelta(minutes=1))  # fmt: skip
    await tariffs.create_tariff(fakes.ctx, STD, default=True)
    start = costs.SessionStart("S-1", "CP-1", 1, 1, "TX-1", "ocpp2.0.1", "TAG", None, NOW)
    await costs.session_started(c, start)
    await costs.session_started(c, start)  # a duplicate changes nothing
    for seconds, wh in ((10, 1_000), (40, 2_000), (70, 3_000), (75, 4_000)):
        await costs.session_updated(c, "S-1", wh, NOW + timedelta(seconds=seconds))
    totals = {"total_excl_vat": Decimal("2.50"), "total_vat": Decimal("0.48"), "total_incl_vat": Decimal("2.98")}
    cdr = CdrCreated(cdr_id="cdr-1", session_id="S-1", station_id="CP-1", started_at=NOW,
                     ended_at=NOW + timedelta(minutes=2), currency="EUR", energy_kwh=Decimal(5), **totals)  # fmt: skip
    await costs.cdr_created(c, cdr)
    await costs.cdr_created(c, cdr)
    announced = [decode_payload(e) for e in fakes.store.envelopes(c.topics.billing)]
    announced = [e for e in announced if isinstance(e, SessionCostUpdated)]
    assert [(e.energy_wh, e.total_incl_vat, e.final) for e in announced] == [
        (1_000, Decimal("1.55"), False),  # 1 kWh x 0.30 + 1.00 = 1.30, + 19 %
        (3_000, Decimal("2.26"), False),  # a minute later (40 s was too soon)
        (5_000, Decimal("2.98"), True),  # the CDR's, once
    ]
    for event in announced:
        await costs.show(c, event)
    assert [p["totalCost"] for _, _, p in display.sent] == [1.55, 2.26, 2.98]

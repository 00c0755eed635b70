"""The cost of a session where the driver looks: billing publishes it, stations show it (ADR 0018).

Billing prices; nobody else does. While a session runs, billing announces its cost so far as
`billing.session_cost_updated` (at most every `interval` per session, from the session's updates), and once
more with `final` after the CDR (its exact total). The same events drive what the station is sent
(domain/cost_messages.py) through the station command path (service -> Kafka -> gateway), so the station's
display, the app and any other reader see one figure. Session events reach these use cases through billing's
own consumer (one read of each event, ADR 0030): their station messages are sent after the batch commits, in the
background, so a slow station never holds up billing; billing's own events (final costs, the announcements to
send) through a consumer group of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from voltline_chassis import get_logger
from voltline_events import Topics, envelope_for, station_key
from voltline_events.payloads import CdrCreated, SessionCostUpdated

from voltline_billing.domain import cost_messages as msg
from voltline_billing.domain.plans import discount_for
from voltline_billing.domain.pricing import price
from voltline_billing.domain.tariffs import Tariff
from voltline_billing.domain.usage import Reading, Usage
from voltline_billing.service_layer.estimates import describe
from voltline_billing.service_layer.later import Later
from voltline_billing.service_layer.ports import BillingUnitOfWork
from voltline_billing.service_layer.tariffs import ad_hoc_prices, resolve

log = get_logger(__name__)
MAX_REMEMBERED = 100_000  # sessions whose last announcement is kept in memory


class CostNotices(Protocol):
    async def get(self, session_id: str) -> dict[str, Any] | None: ...
    async def add(self, **values: Any) -> None: ...
    async def update(self, session_id: str, **values: Any) -> None: ...
    def once_committed(self, key: str, callback: Callable[[], None]) -> None:
        """Run `callback` once what this unit of work wrote is committed (call it after `commit()`)."""
        ...


class CostUnitOfWork(BillingUnitOfWork, Protocol):
    @property
    def costs(self) -> CostNotices: ...


class StationDisplay(Protocol):
    async def send(self, station_id: str, action: str, payload: dict[str, Any], ocpp_version: str | None) -> str:
        """Send one OCPP call to the station; the outcome (`accepted`, `offline`, `timeout`...), never raises."""
        ...


@dataclass
class CostsContext:
    uow: Callable[[], CostUnitOfWork]
    topics: Topics
    source: str
    clock: Callable[[], datetime]
    display: StationDisplay
    interval: timedelta = timedelta(seconds=60)
    # Station messages of a start handled in billing's batch: sent once it has committed (service_layer/later.py).
    later: Later | None = None
    # When each session's running cost was last announced by this instance: most updates fall inside the
    # interval and are skipped without a database read (a session's events stay on one partition, so on one
    # instance; after a restart or a rebalance the store's `announced_at` decides).
    recent: dict[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionStart:
    session_id: str
    station_id: str
    evse_id: int | None
    connector_id: int | None
    transaction_id: str | None
    ocpp_version: str | None
    id_token: str | None
    driver_id: str | None
    started_at: datetime


def _prices(tariff: Tariff) -> msg.Prices:
    p = ad_hoc_prices(tariff)
    return msg.Prices(p["energy_price_per_kwh"], p["time_price_per_hour"], p["session_fee"], p["vat_percent"])


async def session_started(c: CostsContext, s: SessionStart) -> None:
    """Remember how to address the station; a 1.6 station is told the driver's price (SetUserPrice), a 2.1
    station the transaction's tariff (ChangeTransactionTariff)."""
    async with c.uow() as uow:
        if await uow.costs.get(s.session_id) is not None:
            await uow.commit()
            return
        await uow.costs.add(session_id=s.session_id, station_id=s.station_id, evse_id=s.evse_id,
                            connector_id=s.connector_id, transaction_id=s.transaction_id,
                            ocpp_version=s.ocpp_version, id_token=s.id_token, driver_id=s.driver_id,
                            started_at=s.started_at)  # fmt: skip
        found = await resolve(uow, s.station_id, s.started_at)
        await uow.commit()
        if found is None:
            return
        text = describe(found.tariff)
        commands = msg.user_price(s.ocpp_version, s.id_token, text)
        commands += msg.transaction_tariff(s.ocpp_version, s.transaction_id, found.tariff, text)
        if not commands:
            return

        async def send() -> None:
            for action, payload in commands:
                await _send(c, s.station_id, action, payload, s.ocpp_version)

        later = c.later
        # Inside billing's batch: sent once it has committed, in the background (in order per station), so the
        # batch never waits on a station and a batch handled again never sends twice.
        if later is not None and uow.after_batch(f"cost:{s.session_id}", lambda: later.submit(s.station_id, send)):
            return
    await send()


async def session_updated(
    c: CostsContext, session_id: str, energy_wh: int, at: datetime, transaction_id: str | None = None
) -> None:
    """Announce the cost so far, at most every `interval` per session."""
    seen = c.recent.get(session_id)
    if seen is not None and at - seen < c.interval:
        return
    async with c.uow() as uow:
        row = await uow.costs.get(session_id)
        if row is None or row["final_at"] is not None:
            return
        last = row["announced_at"]
        if last is not None and at - last < c.interval:
            return
        found = await resolve(uow, row["station_id"], row["started_at"])
        if found is None:
            return
        plan = None
        if row["driver_id"]:
            subscription = await uow.plans.active_at(row["driver_id"], row["started_at"])
            chosen = await uow.plans.plan(subscription.plan_id) if subscription else None
            plan = discount_for(chosen, 0) if chosen else None
        end = max(at, row["started_at"])
        priced = price(
            found.tariff, Usage(row["started_at"], end, energy_wh, timeline=(Reading(end, energy_wh),)), plan
        )
        event = SessionCostUpdated(
            session_id=session_id, station_id=row["station_id"], evse_id=row["evse_id"],
            connector_id=row["connector_id"], transaction_id=row["transaction_id"] or transaction_id,
            ocpp_version=row["ocpp_version"], id_token=row["id_token"], driver_id=row["driver_id"],
            currency=priced.currency, total_excl_vat=priced.total_excl_vat, total_vat=priced.total_vat,
            total_incl_vat=priced.total_incl_vat, energy_wh=energy_wh, as_of=end, price_text=describe(found.tariff),
        )  # fmt: skip
        _announce(c, uow, event)
        await uow.costs.update(session_id, announced_at=at)
        await uow.commit()
        # Remembered once durable: a consumer's batch that rolls back (and is handled again) must announce again.
        uow.costs.once_committed(session_id, lambda: _remember(c, session_id, at))


def _remember(c: CostsContext, session_id: str, at: datetime) -> None:
    if len(c.recent) >= MAX_REMEMBERED:
        c.recent.clear()
    c.recent[session_id] = at


async def cdr_created(c: CostsContext, cdr: CdrCreated) -> None:
    """The final cost: exactly the CDR's total, once."""
    async with c.uow() as uow:
        row = await uow.costs.get(cdr.session_id)
        if row is None or row["final_at"] is not None:
            return
        energy_wh = int(cdr.energy_kwh * 1000)
        duration_s = int((cdr.ended_at - cdr.started_at).total_seconds())
        event = SessionCostUpdated(
            session_id=cdr.session_id, station_id=cdr.station_id, evse_id=row["evse_id"],
            connector_id=row["connector_id"], transaction_id=row["transaction_id"], ocpp_version=row["ocpp_version"],
            id_token=row["id_token"], driver_id=cdr.driver_id, currency=cdr.currency,
            total_excl_vat=cdr.total_excl_vat, total_vat=cdr.total_vat, total_incl_vat=cdr.total_incl_vat,
            energy_wh=energy_wh, as_of=cdr.ended_at, final=True, cdr_id=cdr.cdr_id,
            price_text=msg.final_text(cdr.currency, cdr.total_incl_vat, energy_wh, duration_s),
        )  # fmt: skip
        _announce(c, uow, event)
        await uow.costs.update(cdr.session_id, final_at=c.clock())
        await uow.commit()
    c.recent.pop(cdr.session_id, None)


def _announce(c: CostsContext, uow: CostUnitOfWork, event: SessionCostUpdated) -> None:
    envelope = envelope_for(event, source=c.source, station_id=event.station_id, session_id=event.session_id)
    uow.outbox.add(c.topics.billing, envelope, key=station_key(event.station_id))


async def show(c: CostsContext, e: SessionCostUpdated) -> None:
    """Send an announced cost to the station, in the words its protocol has for it."""
    if e.final:
        commands = msg.final_cost(e.ocpp_version, e.transaction_id, e.total_incl_vat, e.price_text or "")
    else:
        async with c.uow() as uow:
            found = await resolve(uow, e.station_id, e.as_of)
        prices = _prices(found.tariff) if found else msg.Prices()
        commands = msg.running_cost(e.ocpp_version, e.transaction_id, e.total_incl_vat, e.energy_wh, e.as_of, prices)
    for action, payload in commands:
        await _send(c, e.station_id, action, payload, e.ocpp_version)


async def _send(c: CostsContext, station_id: str, action: str, payload: dict[str, Any], version: str | None) -> None:
    outcome = await c.display.send(station_id, action, payload, version)
    log.info("cost_sent_to_station", station_id=station_id, action=action, outcome=outcome)


__all__ = ["CostsContext", "SessionStart", "cdr_created", "session_started", "session_updated", "show"]

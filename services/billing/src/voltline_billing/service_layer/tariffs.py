"""Creating and versioning tariffs, assigning them, and finding the one a session is priced with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from voltline_events import envelope_for
from voltline_events.payloads import TariffAssigned, TariffChanged

from voltline_billing.domain.tariffs import Tariff
from voltline_billing.service_layer.context import BillingContext, Conflict, Invalid, NotFound
from voltline_billing.service_layer.tariff_feed import feed_assignment, feed_tariff
from voltline_billing.service_layer.unit_of_work import BillingUnitOfWork


@dataclass(frozen=True)
class Resolved:
    tariff: Tariff
    source: str  # station | group | default


async def create_tariff(ctx: BillingContext, tariff: Tariff, *, default: bool = False) -> Tariff:
    """Version 1 of a new tariff; it is valid for any session that started before it existed too."""
    now = ctx.clock()
    tariff = tariff.model_copy(update={"version": 1, "valid_from": None})
    async with ctx.uow() as uow:
        if await uow.tariffs.latest_version(tariff.tariff_id) is not None:
            raise Conflict(f"tariff {tariff.tariff_id!r} exists; PUT /api/v1/tariffs/{tariff.tariff_id} adds a version")
        await uow.tariffs.add(tariff, now)
        _announce_tariff(ctx, uow, tariff, default)
        if default:
            await _assign(uow, "default", "", tariff.tariff_id, now)
            _announce_assignment(ctx, uow, "default", "", tariff.tariff_id, [], now)
        await uow.commit()
    return tariff


def changed_event(tariff: Tariff, default: bool) -> TariffChanged:
    prices = ad_hoc_prices(tariff)
    return TariffChanged(tariff_id=tariff.tariff_id, version=tariff.version, currency=tariff.currency,
                         valid_from=tariff.valid_from, default=default, **prices,
                         elements=[e.model_dump(mode="json", exclude_none=True) for e in tariff.elements])  # fmt: skip


def _announce_tariff(ctx: BillingContext, uow: BillingUnitOfWork, tariff: Tariff, default: bool) -> None:
    """billing.tariff_changed through the outbox (analytics' AFIR feed shows the ad-hoc price from it), and on
    the compacted tariffs topic (diagnostics' locations show the price from it)."""
    event = changed_event(tariff, default)
    uow.outbox.add(ctx.topics.billing, envelope_for(event, source=ctx.source), key=tariff.tariff_id.encode())
    feed_tariff(ctx, uow, event)


def _announce_assignment(ctx: BillingContext, uow: BillingUnitOfWork, scope: str, scope_id: str, tariff_id: str,
                         station_ids: list[str], now: datetime) -> None:  # fmt: skip
    event = TariffAssigned(scope=scope, scope_id=scope_id, tariff_id=tariff_id, station_ids=station_ids,
                           assigned_at=now)  # fmt: skip
    station = scope_id if scope == "station" else None
    envelope = envelope_for(event, source=ctx.source, station_id=station)
    uow.outbox.add(ctx.topics.billing, envelope, key=(scope_id or tariff_id).encode())
    feed_assignment(ctx, uow, event)


def ad_hoc_prices(tariff: Tariff) -> dict[str, Decimal | None]:
    """The prices a driver sees before charging: per dimension, the first component of an element without
    restrictions (else the first of that dimension); TIME is per hour in OCPI."""
    found: dict[str, tuple[Decimal, Decimal | None]] = {}
    for unrestricted in (True, False):
        for element in tariff.elements:
            if unrestricted and element.restrictions is not None:
                continue
            for c in element.price_components:
                found.setdefault(str(c.type), (Decimal(str(c.price)), None if c.vat is None else Decimal(str(c.vat))))
    energy = found.get("ENERGY")
    return {
        "energy_price_per_kwh": energy[0] if energy else None,
        "time_price_per_hour": found["TIME"][0] if "TIME" in found else None,
        "session_fee": found["FLAT"][0] if "FLAT" in found else None,
        "vat_percent": energy[1] if energy else next((v for _, v in found.values() if v is not None), None),
    }


async def new_version(
    ctx: BillingContext, tariff: Tariff, *, valid_from: datetime | None, default: bool = False
) -> Tariff:
    """A new version, in force from `valid_from` (default: now) for sessions that start from then on."""
    now = ctx.clock()
    starts = valid_from or now
    async with ctx.uow() as uow:
        latest = await uow.tariffs.latest_version(tariff.tariff_id)
        if latest is None:
            raise NotFound(f"no tariff {tariff.tariff_id!r}; POST /api/v1/tariffs creates it")
        previous = await uow.tariffs.get(tariff.tariff_id, latest)
        assert previous is not None
        if previous.valid_from is not None and starts < previous.valid_from:
            raise Invalid("valid_from", f"version {latest} is valid from {previous.valid_from.isoformat()}; "
                          "a new version cannot start earlier")  # fmt: skip
        tariff = tariff.model_copy(update={"version": latest + 1, "valid_from": starts})
        await uow.tariffs.add(tariff, now)
        _announce_tariff(ctx, uow, tariff, default)
        if default:
            await _assign(uow, "default", "", tariff.tariff_id, now)
            _announce_assignment(ctx, uow, "default", "", tariff.tariff_id, [], now)
        await uow.commit()
    return tariff


async def get_tariff(ctx: BillingContext, tariff_id: str, version: int | None = None) -> Tariff:
    async with ctx.uow() as uow:
        tariff = await uow.tariffs.get(tariff_id, version)
    if tariff is None:
        raise NotFound(f"no tariff {tariff_id!r}" + (f" version {version}" if version else ""))
    return tariff


async def versions(ctx: BillingContext, tariff_id: str) -> list[Tariff]:
    async with ctx.uow() as uow:
        found = await uow.tariffs.versions(tariff_id)
    if not found:
        raise NotFound(f"no tariff {tariff_id!r}")
    return found


async def list_tariffs(ctx: BillingContext, limit: int, offset: int) -> list[Tariff]:
    async with ctx.uow() as uow:
        return await uow.tariffs.list_latest(limit, offset)


async def _assign(uow: BillingUnitOfWork, scope: str, scope_id: str, tariff_id: str, now: datetime) -> None:
    if await uow.tariffs.latest_version(tariff_id) is None:
        raise Invalid("tariff_id", f"no tariff {tariff_id!r}; create it first")
    # The first assignment of a scope also covers sessions that started before it was made.
    first = not await uow.tariffs.has_assignment(scope, scope_id)
    await uow.tariffs.assign(scope, scope_id, tariff_id, None if first else now, now)


async def assign_station(ctx: BillingContext, station_id: str, tariff_id: str) -> None:
    async with ctx.uow() as uow:
        await _assign(uow, "station", station_id, tariff_id, ctx.clock())
        _announce_assignment(ctx, uow, "station", station_id, tariff_id, [], ctx.clock())
        await uow.commit()


async def set_group(ctx: BillingContext, group_id: str, tariff_id: str | None, station_ids: list[str]) -> list[str]:
    async with ctx.uow() as uow:
        if tariff_id is not None:
            await _assign(uow, "group", group_id, tariff_id, ctx.clock())
        for station_id in station_ids:
            await uow.tariffs.set_group(station_id, group_id)
        members = await uow.tariffs.group_members(group_id)
        current = tariff_id or await uow.tariffs.assigned_at("group", group_id, ctx.clock())
        if current is not None:
            _announce_assignment(ctx, uow, "group", group_id, current, members, ctx.clock())
        await uow.commit()
    return members


async def resolve(uow: BillingUnitOfWork, station_id: str, at: datetime) -> Resolved | None:
    """The tariff in force for a station at an instant: its own, else its group's, else the default."""
    scopes = [("station", station_id)]
    group = await uow.tariffs.group_of(station_id)
    if group is not None:
        scopes.append(("group", group))
    scopes.append(("default", ""))
    for scope, scope_id in scopes:
        tariff_id = await uow.tariffs.assigned_at(scope, scope_id, at)
        if tariff_id is not None:
            tariff = await uow.tariffs.valid_at(tariff_id, at)
            if tariff is not None:
                return Resolved(tariff, scope)
    return None


async def tariff_for_station(ctx: BillingContext, station_id: str, at: datetime | None = None) -> Resolved:
    async with ctx.uow() as uow:
        found = await resolve(uow, station_id, at or ctx.clock())
    if found is None:
        raise NotFound(f"no tariff applies to station {station_id!r}: assign one or set a default")
    return found

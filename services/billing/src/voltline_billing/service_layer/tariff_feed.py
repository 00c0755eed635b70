"""Billing's tariffs as a table other services follow: the compacted `voltline.billing.tariffs.v1`.

Every tariff version and the current assignment of every scope (station, group with its members, default) is
a record keyed so that compaction keeps what matters: `tariff:<id>:<version>` (all versions: one valid from
next month must not replace today's), `assignment:<scope>:<scope_id>` (the newest assignment of a scope wins).
Written through the outbox in the transaction that makes the change, and republished from the store at
start-up (the embedded broker forgets topics on restart; auth does the same with its station registry).
"""

from __future__ import annotations

from voltline_events import envelope_for
from voltline_events.payloads import TariffAssigned, TariffChanged

from voltline_billing.service_layer.context import BillingContext
from voltline_billing.service_layer.unit_of_work import BillingUnitOfWork


def tariff_key(tariff_id: str, version: int) -> bytes:
    return f"tariff:{tariff_id}:{version}".encode()


def assignment_key(scope: str, scope_id: str) -> bytes:
    return f"assignment:{scope}:{scope_id}".encode()


def feed_tariff(ctx: BillingContext, uow: BillingUnitOfWork, event: TariffChanged) -> None:
    envelope = envelope_for(event, source=ctx.source)
    uow.outbox.add(ctx.topics.tariffs, envelope, key=tariff_key(event.tariff_id, event.version))


def feed_assignment(ctx: BillingContext, uow: BillingUnitOfWork, event: TariffAssigned) -> None:
    envelope = envelope_for(event, source=ctx.source)
    uow.outbox.add(ctx.topics.tariffs, envelope, key=assignment_key(event.scope, event.scope_id))


async def republish_tariffs(ctx: BillingContext, batch: int = 200) -> int:
    """Put every tariff version and every scope's current assignment on the tariffs topic again."""
    from voltline_billing.service_layer.tariffs import changed_event  # the one way a version becomes an event

    count, offset, now = 0, 0, ctx.clock()
    while True:
        async with ctx.uow() as uow:
            page = await uow.tariffs.list_latest(batch, offset)
            for latest in page:
                for version in await uow.tariffs.versions(latest.tariff_id):
                    feed_tariff(ctx, uow, changed_event(version, default=False))
                    count += 1
            await uow.commit()
        offset += batch
        if len(page) < batch:
            break
    async with ctx.uow() as uow:
        for scope, scope_id in await uow.tariffs.scopes():
            tariff_id = await uow.tariffs.assigned_at(scope, scope_id, now)
            if tariff_id is None:
                continue
            members = await uow.tariffs.group_members(scope_id) if scope == "group" else []
            event = TariffAssigned(
                scope=scope, scope_id=scope_id, tariff_id=tariff_id, station_ids=members, assigned_at=now
            )
            feed_assignment(ctx, uow, event)
            count += 1
        await uow.commit()
    return count

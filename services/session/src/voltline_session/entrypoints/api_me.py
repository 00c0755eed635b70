"""The drivers' app API: a driver's own sessions, start and stop from the phone, a live stream (docs/drivers.md).

Every route takes a driver's access token (voltline_chassis.driver_tokens.current_driver_identity); another
driver's session answers 404, as one that does not exist.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from voltline_chassis.driver_tokens import CurrentDriverIdentity, DriverPrincipal
from voltline_chassis.paging import DEFAULT_LIMIT, Limit, Offset, fetch_size
from voltline_chassis.schemas import media

from voltline_session.domain.session import Session
from voltline_session.entrypoints import schemas as s
from voltline_session.entrypoints.api import _answer
from voltline_session.service_layer import driver_sessions as mine
from voltline_session.service_layer import remote
from voltline_session.service_layer.context import SessionContext
from voltline_session.service_layer.running_cost import Cost, CostSource, NoCosts

FINAL_COST_WAIT_S = 30.0  # after the end, the stream waits this long for billing's final cost (the CDR's total)
SSE = media(
    "text/event-stream",
    "Server-Sent Events named `session`: JSON with status, energy_wh, power_w, soc_percent, cost (billing's figure; "
    "null: not known yet), currency, cost_final and at; the last one has status `completed` (with billing: and the "
    "CDR's total, `cost_final: true`).",
)


class MyStartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    station_id: str = Field(min_length=1, max_length=48, pattern=r"^[a-zA-Z0-9*\-_=:+|@.]+$")
    evse_id: int | None = Field(default=None, ge=1, description="The EVSE to charge at; omit: the station picks.")


class Reading(BaseModel):
    """One event of the live stream."""

    session_id: str
    status: str
    energy_wh: int
    power_w: float | None
    soc_percent: float | None
    cost: str | None = Field(description="Cost so far incl. VAT as billing prices it (null: not known yet).")
    currency: str | None = None
    cost_final: bool = Field(default=False, description="The cost is the CDR's total.")
    at: datetime

    @classmethod
    def of(cls, session: Session, at: datetime, cost: Cost | None = None) -> Reading:
        return cls(
            session_id=session.session_id,
            status=session.status,
            energy_wh=session.energy_wh,
            power_w=session.power_w if session.active else None,
            soc_percent=session.soc_percent,
            cost=None if cost is None else str(cost.total_incl_vat),
            currency=None if cost is None else cost.currency,
            cost_final=cost is not None and cost.final,
            at=at,
        )


class MySessionOut(s.SessionOut):
    """A driver's session with its cost so far (billing's figure; the CDR's total once it exists)."""

    cost: str | None = Field(default=None, description="Cost so far incl. VAT (null: not known yet).")
    currency: str | None = None
    cost_final: bool = False

    @classmethod
    def with_cost(cls, session: Session, cost: Cost | None) -> MySessionOut:
        base = s.SessionOut.of(session).model_dump()
        if cost is None:
            return cls(**base)
        return cls(**base, cost=str(cost.total_incl_vat), currency=cost.currency, cost_final=cost.final)


def _driver(identity: DriverPrincipal) -> mine.Driver:
    return mine.Driver(identity.driver_id, identity.id_token)


def build_router(
    ctx: SessionContext,
    auth: remote.Authorizer,
    commands: remote.CommandSender,
    payments: mine.PaymentCheck,
    stream_interval_s: float,
    costs: CostSource | None = None,
) -> APIRouter:
    """Included with create_app's `driver_routers` (no operator role baseline)."""
    router = APIRouter(tags=["drivers' app"])
    prices: CostSource = costs or NoCosts()

    @router.post("/me/sessions")
    async def start(body: MyStartIn, identity: CurrentDriverIdentity) -> s.CommandOut:
        """Remote start with the driver's app token, once billing says the driver can pay."""
        outcome = await mine.start(
            ctx, auth, commands, payments, _driver(identity), station_id=body.station_id, evse_id=body.evse_id
        )
        return _answer(outcome)

    @router.get("/me/sessions")
    async def list_mine(
        identity: CurrentDriverIdentity,
        status: Literal["active", "completed"] | None = None,
        limit: Limit = DEFAULT_LIMIT,
        offset: Offset = 0,
    ) -> s.SessionList:
        found = await mine.my_sessions(ctx, _driver(identity), status=status, limit=fetch_size(limit), offset=offset)
        return s.SessionList.of([s.SessionOut.of(x) for x in found], limit, offset)

    @router.get("/me/sessions/{session_id}")
    async def get_mine(session_id: str, identity: CurrentDriverIdentity) -> MySessionOut:
        session = await mine.my_session(ctx, _driver(identity), session_id)
        return MySessionOut.with_cost(session, await prices.cost(session.session_id))

    @router.post("/me/sessions/{session_id}/stop")
    async def stop(session_id: str, identity: CurrentDriverIdentity) -> s.CommandOut:
        return _answer(await mine.stop(ctx, commands, _driver(identity), session_id))

    @router.get("/me/sessions/{session_id}/stream", response_class=StreamingResponse, responses=SSE)
    async def stream(session_id: str, identity: CurrentDriverIdentity) -> StreamingResponse:
        driver = _driver(identity)
        await mine.my_session(ctx, driver, session_id)  # 404 before the stream opens

        async def readings() -> AsyncIterator[bytes]:
            last: str | None = None
            final_wait = FINAL_COST_WAIT_S if costs is not None else 0.0  # the CDR follows the end shortly
            while True:
                session = await mine.my_session(ctx, driver, session_id)
                cost = await prices.cost(session.session_id)
                reading = Reading.of(session, ctx.clock(), cost)
                changed = reading.model_dump_json(exclude={"at"})
                if changed != last:
                    last = changed
                    yield f"event: session\ndata: {json.dumps(reading.model_dump(mode='json'))}\n\n".encode()
                else:
                    yield b": keepalive\n\n"
                if not session.active:
                    if (cost is not None and cost.final) or final_wait <= 0:
                        return
                    final_wait -= stream_interval_s
                await asyncio.sleep(stream_interval_s)

        return StreamingResponse(
            readings(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router

"""CDRs (JSON, OCPI shape, CSV export for a period) and the running cost of an active session."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from voltline_chassis.paging import Page
from voltline_chassis.problems import Problem
from voltline_chassis.schemas import CSV, returns

from voltline_billing.domain.cdr import CSV_COLUMNS, cdr_json, csv_row
from voltline_billing.domain.money import fmt
from voltline_billing.domain.ocpi import ocpi_cdr
from voltline_billing.entrypoints.api.common import (
    VIEWER,
    DriverIdQuery,
    Limit,
    Offset,
    fetch_size,
    invalid,
    page,
)
from voltline_billing.entrypoints.schemas.cdrs import CdrOut, OcpiCdrOut, RunningCostOut
from voltline_billing.service_layer import sessions as uc
from voltline_billing.service_layer.context import BillingContext

_EXPORT_PAGE = 1000
From = Annotated[datetime | None, Query(alias="from", description="ended at or after (RFC 3339)")]
To = Annotated[datetime | None, Query(alias="to", description="ended before (RFC 3339)")]


def build_router(ctx: BillingContext) -> APIRouter:
    router = APIRouter(tags=["cdrs"])

    def window(start: datetime | None, end: datetime | None) -> None:
        for name, value in (("from", start), ("to", end)):
            if value is not None and value.tzinfo is None:
                raise invalid(f"query.{name}", f"{name} needs a time zone (RFC 3339, e.g. 2026-11-01T00:00:00Z)")

    @router.get("/cdrs", dependencies=VIEWER, **returns(Page[CdrOut]))
    async def list_(
        session_id: str | None = None,
        station_id: str | None = None,
        driver_id: DriverIdQuery = None,
        payment_state: str | None = None,
        start: From = None,
        end: To = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        window(start, end)
        async with ctx.uow() as uow:
            found = await uow.cdrs.list(
                session_id=session_id, station_id=station_id, driver_id=driver_id, payment_state=payment_state,
                ended_from=start, ended_before=end, limit=fetch_size(limit), offset=offset,
            )  # fmt: skip
        return page([cdr_json(cdr, state) for cdr, state in found], limit, offset)

    @router.get("/cdrs/export.csv", dependencies=VIEWER, response_class=StreamingResponse, responses=CSV)
    async def export(start: From = None, end: To = None) -> StreamingResponse:
        """Every CDR that ended in [from, to), newest first; amounts as decimal strings."""
        window(start, end)
        if start is None or end is None:
            raise invalid("query.from" if start is None else "query.to", "a CSV export needs a period: from and to")
        if end <= start:
            raise invalid("query.to", "to must be after from")

        async def rows() -> Any:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(CSV_COLUMNS)
            offset = 0
            while True:
                async with ctx.uow() as uow:
                    page = await uow.cdrs.list(ended_from=start, ended_before=end, limit=_EXPORT_PAGE, offset=offset)
                for cdr, state in page:
                    writer.writerow(csv_row(cdr, state))
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
                if len(page) < _EXPORT_PAGE:
                    return
                offset += _EXPORT_PAGE

        name = f"cdrs_{start:%Y%m%dT%H%M%SZ}_{end:%Y%m%dT%H%M%SZ}.csv"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers=headers)

    async def one(cdr_id: str) -> tuple[Any, str | None]:
        async with ctx.uow() as uow:
            cdr = await uow.cdrs.get(cdr_id)
            payment = await uow.payments.by_session(cdr.session_id) if cdr else None
        if cdr is None:
            raise Problem(404, f"no CDR {cdr_id!r}")
        return cdr, payment.state.value if payment else None

    @router.get("/cdrs/{cdr_id}", dependencies=VIEWER, **returns(CdrOut))
    async def get(cdr_id: str) -> dict[str, Any]:
        return cdr_json(*(await one(cdr_id)))

    @router.get("/cdrs/{cdr_id}/ocpi", dependencies=VIEWER, **returns(OcpiCdrOut))
    async def as_ocpi(cdr_id: str) -> dict[str, Any]:
        cdr, _ = await one(cdr_id)
        return ocpi_cdr(cdr, ctx.config.ocpi_country_code, ctx.config.ocpi_party_id)

    @router.get("/sessions/{session_id}/cost", dependencies=VIEWER, **returns(RunningCostOut))
    async def cost(session_id: str) -> dict[str, Any]:
        """What the session costs so far (active: energy of its last update, time until now)."""
        info, priced = await uc.running_cost(ctx, session_id)
        if priced is None:
            return {**info, "priced": False, "detail": "no tariff applies to this station"}
        cur = priced.currency
        return {
            **info,
            "priced": True,
            "currency": cur,
            "tariff_id": priced.tariff_id,
            "tariff_version": priced.tariff_version,
            "energy_kwh": str(Decimal(priced.energy_wh).scaleb(-3)),
            "duration_s": priced.duration_s,
            "total_excl_vat": fmt(priced.total_excl_vat, cur),
            "total_vat": fmt(priced.total_vat, cur),
            "total_incl_vat": fmt(priced.total_incl_vat, cur),
            "lines": [line.to_json() for line in priced.lines],
        }

    return router

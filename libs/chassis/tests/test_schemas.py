"""Response models document plain-JSON routes without changing a byte; errors map to problems in one place."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Response
from voltline_chassis.problems import PROBLEM_MEDIA_TYPE, Problem, install_problem_handlers, install_problem_mapping
from voltline_chassis.schemas import CSV, DecimalText, ResponseModel, Timestamp, returns, untyped_responses


class ThingOut(ResponseModel):
    thing_id: str
    at: Timestamp
    amount: DecimalText
    note: str | None = None


class ThingMissing(Exception):
    pass


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    install_problem_mapping(app, {ThingMissing: lambda request, exc: Problem(404, f"No thing {exc.args[0]!r}.")})
    router = APIRouter()

    @router.get("/things/{thing_id}", **returns(ThingOut))
    async def get(thing_id: str) -> dict[str, Any]:
        if thing_id == "nope":
            raise ThingMissing(thing_id)
        # A string rendered with +00:00 stays so; a datetime is rendered by pydantic; extra fields stay.
        return {"thing_id": thing_id, "at": "2026-11-20T10:00:00+00:00", "amount": "4.920", "extra": 1}

    @router.get("/live/{thing_id}", **returns(ThingOut))
    async def live(thing_id: str) -> dict[str, Any]:
        return {"thing_id": thing_id, "at": datetime(2026, 11, 20, tzinfo=UTC), "amount": Decimal("1.50")}

    @router.get("/untyped")
    async def untyped() -> dict[str, Any]:
        return {}

    @router.get("/export.csv", response_class=Response, responses=CSV)
    async def export() -> Response:
        return Response("a,b\n", media_type="text/csv")

    app.include_router(router)
    return app


async def test_returns_documents_without_changing_the_json() -> None:
    app = _app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        as_rendered = (await client.get("/things/T-1")).json()
        rendered_by_pydantic = (await client.get("/live/T-2")).json()
        missing = await client.get("/things/nope")
    assert as_rendered == {"thing_id": "T-1", "at": "2026-11-20T10:00:00+00:00", "amount": "4.920", "extra": 1}
    assert rendered_by_pydantic == {"thing_id": "T-2", "at": "2026-11-20T00:00:00Z", "amount": "1.50"}
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert missing.json() == {
        "type": "about:blank", "title": "Not Found", "status": 404, "detail": "No thing 'nope'.",
        "instance": "/things/nope",
    }  # fmt: skip


def test_untyped_responses_names_routes_without_a_schema() -> None:
    assert untyped_responses(_app().openapi()) == [
        "GET /untyped 200: application/json has no schema beyond a bare object"
    ]

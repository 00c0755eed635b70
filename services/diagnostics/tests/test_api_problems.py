"""Domain errors reach clients as problem+json from one mapping (entrypoints/errors.py)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from voltline_chassis.problems import install_problem_handlers, install_problem_mapping
from voltline_diagnostics.adapters.uploads import UploadTooLarge
from voltline_diagnostics.domain.commands import CommandNotPossible
from voltline_diagnostics.entrypoints.errors import PROBLEMS


async def test_command_and_upload_errors_become_problems() -> None:
    app = FastAPI()
    install_problem_handlers(app)
    install_problem_mapping(app, PROBLEMS)

    @app.post("/not-possible")
    async def not_possible() -> None:
        raise CommandNotPossible("OCPP 1.6 has no EVSE 2 here", field="evse_id")

    @app.put("/too-large")
    async def too_large() -> None:
        raise UploadTooLarge("the upload is larger than the limit of 10 bytes")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://d") as client:
        invalid = await client.post("/not-possible")
        large = await client.put("/too-large")
    assert invalid.status_code == 422
    assert invalid.json()["errors"] == [{"field": "body.evse_id", "message": "OCPP 1.6 has no EVSE 2 here"}]
    assert large.status_code == 413 and large.json()["detail"] == "the upload is larger than the limit of 10 bytes"

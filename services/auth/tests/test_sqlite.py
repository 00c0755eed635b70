"""The embedded default (`make run`): the same flows on SQLite, so every query stays portable."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auth_testing import eventually, running_auth
from voltline_events.payloads import SessionStarted


async def test_decisions_lists_and_blocking_on_sqlite(kafka: Any, postgres: Any, tmp_path: Path) -> None:
    async with running_auth(kafka, postgres, database_url=f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}") as auth:
        driver = (await auth.api.post("/api/v1/drivers", json={"name": "S", "email": "s@example.com"})).json()
        body = {"id_token": "SQ_1%", "type": "ISO14443", "driver_id": driver["driver_id"]}
        assert (await auth.api.post("/api/v1/id-tokens", json=body)).status_code == 201
        found = await auth.api.get("/api/v1/id-tokens", params={"prefix": "sq_1%"})
        assert [t["id_token"] for t in found.json()["items"]] == ["SQ_1%"]
        assert (await auth.api.post("/api/v1/local-lists", json={"list_id": "L-SQ"})).status_code == 201
        assert (await auth.api.put("/api/v1/local-lists/L-SQ/entries/SQ_1%25")).status_code == 200
        station = {"station_id": "CP-SQ", "local_list": "L-SQ"}
        assert (await auth.api.post("/api/v1/stations", json=station)).status_code == 201
        await auth.gateway.connect("CP-SQ", "ocpp2.0.1")
        fake = auth.gateway.stations["CP-SQ"]
        await eventually(lambda: fake.list_version == 2)

        assert (await auth.gateway.authorize("CP-SQ", "sq_1%")).status == "Accepted"
        started = SessionStarted(session_id="S-SQ", station_id="CP-SQ", id_token="SQ_1%", started_at=datetime.now(UTC))
        await auth.gateway.publish(auth.topics.sessions, started, "CP-SQ")
        assert (await auth.api.patch("/api/v1/id-tokens/SQ_1%25", json={"status": "Blocked"})).status_code == 200
        await eventually(lambda: fake.cache_clears == 1 and fake.list_version == 3)
        assert fake.local_list["SQ_1%"] == {"status": "Blocked"}
        assert (await auth.gateway.authorize("CP-SQ", "SQ_1%")).status == "Blocked"
        audit = (await auth.api.get("/api/v1/audit", params={"target_id": "SQ_1%"})).json()["items"]
        assert [e["action"] for e in audit] == ["id_token.updated", "id_token.created"]

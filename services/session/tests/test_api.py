"""The session API: filters, the live view, the meter timeline, silent stations, tokens and errors."""

from __future__ import annotations

import pytest
from test_session_support import (
    ADMIN,
    RunningSession,
    at,
    ended,
    energy,
    eventually,
    sample,
    types,
    value,
    wait_session,
)
from voltline_devinfra.api_probes import list_routes_refuse_huge_offsets

pytestmark = pytest.mark.asyncio(loop_scope="module")
Z = "+00:00"


def iso(minutes: float) -> str:
    return at(minutes).isoformat()


async def test_filters_and_the_live_view(service: RunningSession) -> None:
    a, b = service.station("CP-FILTER-A"), service.station("CP-FILTER-B", "ocpp2.0.1")
    await a.tx("started", "1", 0, connector_id=1, id_tag="TOKEN-A", meter_start_wh=100)
    await a.tx("ended", "1", 30, meter_stop_wh=1100)
    await b.tx(
        "started",
        "b-1",
        60,
        seq_no=0,
        evse_id=1,
        id_tag="TOKEN-B",
        meter_values=[energy(60, 5_000, "Transaction.Begin")],
    )
    live_values = sample(75, value(7_500), value("7.2", "Power.Active.Import", "kW"), value(48, "SoC", "Percent"))
    await b.tx("updated", "b-1", 75, seq_no=1, charging_state="Charging", meter_values=[live_values])
    await wait_session(service.api, ADMIN, "CP-FILTER-A", lambda s: s["status"] == "completed")
    await wait_session(service.api, ADMIN, "CP-FILTER-B", lambda s: s["energy_wh"] == 2_500)

    async def ids(**params: str) -> list[str]:
        response = await service.api.get("/api/v1/sessions", params=params, headers=ADMIN)
        assert response.status_code == 200, response.text
        return [s["station_id"] for s in response.json()["items"] if s["station_id"].startswith("CP-FILTER")]

    assert await ids(status="completed") == ["CP-FILTER-A"]
    assert await ids(status="active") == ["CP-FILTER-B"]
    assert await ids(id_token="TOKEN-B") == ["CP-FILTER-B"]
    assert await ids(**{"from": iso(50), "to": iso(70)}) == ["CP-FILTER-B"]
    assert await ids(**{"to": iso(50)}) == ["CP-FILTER-A"]
    assert sorted(await ids()) == ["CP-FILTER-A", "CP-FILTER-B"]
    assert len(await ids(limit="1")) <= 1

    live = await service.api.get("/api/v1/sessions/active", headers=ADMIN)
    assert live.status_code == 200, live.text
    [row] = [s for s in live.json()["items"] if s["station_id"] == "CP-FILTER-B"]
    assert (row["energy_wh"], row["power_w"], row["soc_percent"], row["charging_state"]) == (
        2_500,
        7200,
        48,
        "charging",
    )


async def test_meter_values_timeline(service: RunningSession) -> None:
    cp = service.station("CP-TIMELINE")
    await cp.tx("started", "7", 0, connector_id=1, meter_start_wh=0)
    await cp.tx("updated", "7", 1, meter_values=[sample(1, value(3_000_000), value(11, "Power.Active.Import", "kW"))])
    await cp.tx("ended", "7", 20, meter_stop_wh=3_004_000)
    session = await wait_session(service.api, ADMIN, "CP-TIMELINE", lambda s: s["status"] == "completed")
    response = await service.api.get(f"/api/v1/sessions/{session['session_id']}/meter-values", headers=ADMIN)
    body = response.json()
    assert body["energy_wh"] == 4_000 and session["energy_wh"] == 4_000
    rows = [(i["measurand"], i["value"], i["unit"], i["energy_wh"], i["source"], i["note"]) for i in body["items"]]
    assert rows == [
        ("Energy.Active.Import.Register", "0", "Wh", None, "meter_start", "meter_start_zero_ignored"),
        ("Energy.Active.Import.Register", "3000000", "Wh", "0", "reading", None),
        ("Power.Active.Import", "11000", "W", None, "reading", None),
        ("Energy.Active.Import.Register", "3004000", "Wh", "4000", "meter_stop", None),
    ]


async def test_silent_station_makes_its_session_suspect_and_an_operator_closes_it(service: RunningSession) -> None:
    cp = service.station("CP-SILENT")
    await cp.tx("started", "99", 0, connector_id=1, id_tag="TOKEN-S", meter_start_wh=1_000)
    await cp.tx("updated", "99", 10, meter_values=[energy(10, 3_000)])
    session = await wait_session(service.api, ADMIN, "CP-SILENT", lambda s: s["suspect"])
    assert session["status"] == "active" and session["suspect_since"]
    suspects = await service.api.get("/api/v1/sessions", params={"suspect": "true"}, headers=ADMIN)
    assert "CP-SILENT" in [s["station_id"] for s in suspects.json()["items"]]

    closed = await service.api.post(
        f"/api/v1/sessions/{session['session_id']}/close", json={"reason": "station unreachable"}, headers=ADMIN
    )
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert (body["status"], body["stop_reason"], body["energy_wh"], body["suspect"]) == (
        "completed",
        "ClosedByOperator",
        2_000,
        False,
    )
    assert body["ended_at"] == iso(10).replace(Z, "Z")
    again = await service.api.post(f"/api/v1/sessions/{session['session_id']}/close", headers=ADMIN)
    assert again.status_code == 409 and "already ended" in again.json()["detail"]

    # the station comes back and sends its real end: the session is revised, not duplicated
    await cp.tx("ended", "99", 50, meter_stop_wh=4_500, stop_reason="PowerLoss")
    revised = await wait_session(service.api, ADMIN, "CP-SILENT", lambda s: s["stop_reason"] == "PowerLoss")
    assert (revised["energy_wh"], revised["revision"], revised["suspect"]) == (3_500, 2, False)
    events = await service.events.wait(session["session_id"], lambda e: len(ended(e)) == 2)
    first, second = ended(events)
    assert (first["closed_by_operator"], first["energy_wh"], first["revision"]) == (True, 2_000, 1)
    assert (second["closed_by_operator"], second["energy_wh"], second["revision"]) == (False, 3_500, 2)
    assert types(events).count("session.started") == 1


async def test_a_station_speaking_again_is_no_longer_suspect(service: RunningSession) -> None:
    cp = service.station("CP-BACK")
    await cp.tx("started", "5", 0, connector_id=1, meter_start_wh=10)
    await wait_session(service.api, ADMIN, "CP-BACK", lambda s: s["suspect"])
    await cp.connect()
    await wait_session(service.api, ADMIN, "CP-BACK", lambda s: not s["suspect"])


async def test_tokens_routes_and_errors(service: RunningSession) -> None:
    api = service.api
    assert (await api.get("/api/v1/sessions")).status_code == 401
    assert (await api.get("/api/v1/sessions", headers={"Authorization": "Bearer wrong"})).status_code == 401
    assert (await api.get("/healthz")).status_code == 200
    assert (await api.get("/readyz")).status_code == 200

    missing = await api.get("/api/v1/sessions/no-such-session", headers=ADMIN)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    assert "no-such-session" in missing.json()["detail"]
    for path in ("/api/v1/sessions/nope/meter-values", "/api/v1/remote-starts/12345"):
        assert (await api.get(path, headers=ADMIN)).status_code == 404
    assert (await api.post("/api/v1/sessions/nope/remote-stop", headers=ADMIN)).status_code == 404

    bad_status = await api.get("/api/v1/sessions", params={"status": "running"}, headers=ADMIN)
    assert bad_status.status_code == 422 and bad_status.json()["errors"][0]["field"] == "query.status"
    naive = await api.get("/api/v1/sessions", params={"from": "2026-01-01T00:00:00"}, headers=ADMIN)
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "query.from"
    no_token = await api.post("/api/v1/remote-start", json={"station_id": "CP-1"}, headers=ADMIN)
    assert no_token.status_code == 422 and no_token.json()["errors"][0]["field"] == "body.id_token"


async def test_a_broken_event_is_parked_and_the_next_one_still_applies(service: RunningSession) -> None:
    from voltline_events import envelope_for

    cp = service.station("CP-BROKEN")
    broken = envelope_for(service_event_stub(), source="gateway/test", station_id="CP-BROKEN")
    await cp.publish(broken.model_copy(update={"payload": {"kind": "started"}}))  # not a valid transaction
    await cp.tx("started", "1", 0, connector_id=1, meter_start_wh=5)
    await cp.tx("ended", "1", 10, meter_stop_wh=505)
    session = await wait_session(service.api, ADMIN, "CP-BROKEN", lambda s: s["status"] == "completed")
    assert session["energy_wh"] == 500
    await eventually(lambda: _dead_letters(service), what="the broken event on the dead-letter topic")


def service_event_stub() -> object:
    from voltline_events.payloads import StationTransaction

    return StationTransaction(ocpp_version="ocpp1.6", kind="started", transaction_id="x", timestamp=at(0))


async def _dead_letters(service: RunningSession) -> bool:
    from aiokafka import AIOKafkaConsumer

    topic = f"{service.topics.station_events}.dlq"
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=service.bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=1000)
        return any(records for records in batches.values())
    finally:
        await consumer.stop()


async def test_lists_page_with_next_offset_until_the_last_page(service: RunningSession) -> None:
    cp = service.station("CP-PAGES")
    for n in range(3):
        await cp.tx("started", str(900 + n), n, connector_id=n + 1, id_tag="TOKEN-P", meter_start_wh=0)

    async def all_three() -> dict | None:
        page = (
            await service.api.get("/api/v1/sessions/active", params={"station_id": "CP-PAGES"}, headers=ADMIN)
        ).json()
        return page if len(page["items"]) == 3 else None

    assert (await eventually(all_three, what="three sessions"))["next_offset"] is None
    for route in ("/api/v1/sessions", "/api/v1/sessions/active"):
        first = (await service.api.get(route, params={"station_id": "CP-PAGES", "limit": 2}, headers=ADMIN)).json()
        assert [x["started_at"] for x in first["items"]] == [iso(2).replace(Z, "Z"), iso(1).replace(Z, "Z")]
        assert first["next_offset"] == 2
        params = {"station_id": "CP-PAGES", "limit": 2, "offset": 2}
        last = (await service.api.get(route, params=params, headers=ADMIN)).json()
        assert [x["started_at"] for x in last["items"]] == [iso(0).replace(Z, "Z")] and last["next_offset"] is None


async def test_every_list_refuses_huge_offsets(service: RunningSession) -> None:
    """A 2**63 offset was a 500 (BIGINT overflow in the database); it is a 422 on every list."""
    answers = await list_routes_refuse_huge_offsets(service.api, ADMIN, skip=("/api/v1/me/",))  # test_me has those
    assert answers and all(status == 422 for status in answers.values()), answers

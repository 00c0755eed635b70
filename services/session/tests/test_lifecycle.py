"""Sessions of every protocol version, played as the gateway's events on real Kafka into a real PostgreSQL.

Every scenario ends with the exact energy the station's register readings prove, and the events billing
reads (session.started / updated / ended) as published through the outbox.
"""

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

pytestmark = pytest.mark.asyncio(loop_scope="module")

BEGIN, PERIODIC, END = "Transaction.Begin", "Sample.Periodic", "Transaction.End"


def done(session: dict) -> bool:
    return session["status"] == "completed"


async def test_16_card_session(service: RunningSession) -> None:
    cp = service.station("CP16-CARD")
    await cp.connect()
    await cp.status(-1, "Preparing")
    await cp.tx("started", "1001", 0, connector_id=1, id_tag="CARD-1", meter_start_wh=1000)
    await cp.status(0.05, "Charging")
    await cp.tx("updated", "1001", 15, meter_values=[sample(15, value(4000), value(11000, "Power.Active.Import", "W"))])
    await cp.status(30, "SuspendedEV")
    await cp.tx("updated", "1001", 30, meter_values=[energy(30, 6500, PERIODIC)])
    await cp.tx(
        "ended",
        "1001",
        45,
        meter_stop_wh=7200,
        stop_reason="EVDisconnected",
        meter_values=[energy(0, 1000, BEGIN), energy(45, 7200, END)],
    )
    session = await wait_session(service.api, ADMIN, "CP16-CARD", done)
    assert (session["energy_wh"], session["meter_start_wh"], session["meter_stop_wh"]) == (6200, 1000, 7200)
    assert session["started_at"] == at(0).isoformat().replace("+00:00", "Z")
    assert (session["connector_id"], session["id_token"], session["stop_reason"]) == (1, "CARD-1", "EVDisconnected")
    assert session["peak_power_w"] == 11000 and session["anomalies"] == []

    details = (await service.api.get(f"/api/v1/sessions/{session['session_id']}", headers=ADMIN)).json()
    periods = [(p["state"], p["energy_wh"]) for p in details["periods"]]
    # plugged in a moment before; SuspendedEV from 30 min, but the register grew until 45: charging
    assert periods == [("idle", 0), ("charging", 6200)]

    events = await service.events.wait(session["session_id"], lambda e: "session.ended" in types(e))
    assert types(events)[0] == "session.started" and types(events).count("session.ended") == 1
    started = events[0]
    assert (started["id_token"], started["meter_start_wh"], started["ocpp_version"]) == ("CARD-1", 1000, "ocpp1.6")
    final = ended(events)[0]
    assert (final["energy_wh"], final["revision"], final["transaction_id"]) == (6200, 1, "1001")
    assert [(p["state"], p["energy_wh"]) for p in final["periods"]] == periods
    assert [e["energy_wh"] for e in final["energy_timeline"]] == [0, 3000, 5500, 6200]
    updates = [(e["energy_wh"], e["charging_state"]) for e in events if e["type"] == "session.updated"]
    assert updates == [(3000, "charging"), (3000, "suspended_ev"), (5500, "suspended_ev")]


async def test_201_card_session_with_duplicates(service: RunningSession) -> None:
    cp = service.station("CP201-CARD", "ocpp2.0.1")
    await cp.connect()
    common = {"evse_id": 1, "connector_id": 1}
    await cp.tx(
        "started", "tx-a", 0, seq_no=0, charging_state="EVConnected", id_tag="CARD-2",
        meter_values=[energy(0, 50_000, BEGIN, kwh=True)], trigger_reason="Authorized", **common,
    )  # fmt: skip
    first_update = await cp.tx(
        "updated", "tx-a", 2, seq_no=1, charging_state="Charging", meter_values=[energy(2, 50_000, PERIODIC, kwh=True)]
    )
    await cp.publish(first_update)  # Kafka redelivers the very same event
    await cp.tx(  # the station resends the same message: a new event id, the same seqNo
        "updated", "tx-a", 2, seq_no=1, charging_state="Charging", meter_values=[energy(2, 50_000, PERIODIC, kwh=True)]
    )
    await cp.tx(
        "updated", "tx-a", 30, seq_no=2, charging_state="SuspendedEV", meter_values=[energy(30, 60_000, kwh=True)]
    )
    await cp.tx(
        "ended", "tx-a", 40, seq_no=3, stop_reason="EVDisconnected", meter_values=[energy(40, 61_234, END, kwh=True)]
    )

    session = await wait_session(service.api, ADMIN, "CP201-CARD", done)
    assert (session["energy_wh"], session["meter_start_wh"], session["meter_stop_wh"]) == (11_234, 50_000, 61_234)
    assert (session["evse_id"], session["ocpp_version"], session["transaction_id"]) == (1, "ocpp2.0.1", "tx-a")
    events = await service.events.wait(session["session_id"], lambda e: "session.ended" in types(e))
    # one update per distinct message: the duplicates changed nothing, so published nothing
    assert [e["energy_wh"] for e in events if e["type"] == "session.updated"] == [0, 10_000]
    periods = [(p["state"], p["energy_wh"]) for p in ended(events)[0]["periods"]]
    assert periods == [("idle", 0), ("charging", 11_234)]  # energy flowed while "SuspendedEV": charging


async def test_21_session_offline_for_hours_and_delivered_out_of_order(service: RunningSession) -> None:
    """A 2.1 station queued a whole session while offline and sends it hours later, not in order."""
    cp = service.station("CP21-OFFLINE", "ocpp2.1")
    live = {"evse_id": 2, "connector_id": 1, "id_tag": "CARD-LIVE"}
    await cp.tx("started", "live-1", 300, seq_no=0, meter_values=[energy(300, 900_000, BEGIN)], **live)
    old = {"evse_id": 1, "connector_id": 1, "offline": True}
    # delivered now, in this order: seqNo 2, 4, 0, 3, 1
    await cp.tx("updated", "old-1", 20, seq_no=2, charging_state="Charging", meter_values=[energy(20, 104_000)], **old)
    await cp.tx("ended", "old-1", 60, seq_no=4, stop_reason="Local", meter_values=[energy(60, 112_000, END)], **old)
    begin = {"id_tag": "CARD-3", "charging_state": "Charging", "meter_values": [energy(0, 100_000, BEGIN)]}
    await cp.tx("started", "old-1", 0, seq_no=0, **begin, **old)
    suspended = {"charging_state": "SuspendedEVSE", "meter_values": [energy(40, 110_000)]}
    await cp.tx("updated", "old-1", 40, seq_no=3, **suspended, **old)
    await cp.tx("updated", "old-1", 10, seq_no=1, meter_values=[energy(10, 102_000)], **old)

    session = await _wait_tx(service, "CP21-OFFLINE", "old-1", lambda s: done(s) and s["revision"] == 1)
    assert session["energy_wh"] == 12_000
    assert session["started_at"] == at(0).isoformat().replace("+00:00", "Z")
    assert session["ended_at"] == at(60).isoformat().replace("+00:00", "Z")
    assert (session["id_token"], session["offline"], session["meter_start_wh"]) == ("CARD-3", True, 100_000)
    details = (await service.api.get(f"/api/v1/sessions/{session['session_id']}", headers=ADMIN)).json()
    periods = [("charging", 12_000)]  # "SuspendedEVSE" from 40 min, but the register grew: charging
    assert [(p["state"], p["energy_wh"]) for p in details["periods"]] == periods
    # the end was held back until the whole backlog was in: one session.ended, with everything
    events = await service.events.wait(session["session_id"], lambda e: bool(ended(e)))
    [last] = ended(events)
    assert (last["revision"], last["energy_wh"], last["anomalies"]) == (1, 12_000, [])
    assert [e["energy_wh"] for e in last["energy_timeline"]] == [0, 2000, 4000, 10_000, 12_000]
    assert [(p["state"], p["energy_wh"]) for p in last["periods"]] == periods
    live_session = await _wait_tx(service, "CP21-OFFLINE", "live-1", lambda s: s["status"] == "active")
    assert live_session["energy_wh"] == 0 and live_session["evse_id"] == 2


async def _wait_tx(service: RunningSession, station_id: str, tx_id: str, ready: object) -> dict:
    async def check() -> dict | None:
        items = (await service.api.get("/api/v1/sessions", params={"station_id": station_id}, headers=ADMIN)).json()
        found = [s for s in items["items"] if s["transaction_id"] == tx_id]
        return found[0] if found and ready(found[0]) else None  # type: ignore[operator]

    return await eventually(check, what=f"transaction {tx_id} of {station_id}")


async def test_batch_without_energy_resets_nothing(service: RunningSession) -> None:
    cp = service.station("CP16-NOENERGY")
    await cp.tx("started", "2001", 0, connector_id=1, id_tag="CARD-4", meter_start_wh=20_000)
    await cp.tx("updated", "2001", 10, meter_values=[energy(10, 22_000)])
    only_power = sample(20, value(7400, "Power.Active.Import", "W"), value(61, "SoC", "Percent"))
    await cp.tx("updated", "2001", 20, meter_values=[only_power])
    await cp.tx("updated", "2001", 25, meter_values=[sample(25, value("abc"))])  # unusable: skipped, reported
    await cp.tx("ended", "2001", 30, meter_stop_wh=25_000)
    session = await wait_session(service.api, ADMIN, "CP16-NOENERGY", done)
    assert session["energy_wh"] == 5_000 and session["soc_percent"] == 61
    assert "meter_values_unusable" in session["anomalies"]


async def test_zero_and_missing_begin_do_not_bill_the_lifetime_meter(service: RunningSession) -> None:
    zero = service.station("CP16-ZERO")
    await zero.tx("started", "3001", 0, connector_id=1, id_tag="CARD-5", meter_start_wh=0)
    await zero.tx("updated", "3001", 1, meter_values=[energy(1, 5_000_500)])
    await zero.tx("ended", "3001", 30, meter_stop_wh=5_007_000)
    session = await wait_session(service.api, ADMIN, "CP16-ZERO", done)
    assert (session["energy_wh"], session["meter_start_wh"]) == (6_500, 5_000_500)
    assert "meter_start_zero_ignored" in session["anomalies"]

    missing = service.station("CP201-NOBEGIN", "ocpp2.0.1")
    await missing.tx("started", "nb-1", 0, seq_no=0, evse_id=1, id_tag="CARD-6")
    await missing.tx("updated", "nb-1", 5, seq_no=1, meter_values=[energy(5, 8_000_000)])
    await missing.tx("ended", "nb-1", 25, seq_no=2, meter_values=[energy(25, 8_010_000, END)])
    session = await wait_session(service.api, ADMIN, "CP201-NOBEGIN", done)
    assert session["energy_wh"] == 10_000 and "meter_start_missing" in session["anomalies"]


async def test_meter_reset_is_flagged_and_counted(service: RunningSession) -> None:
    cp = service.station("CP201-RESET", "ocpp2.0.1")
    await cp.tx("started", "rs-1", 0, seq_no=0, evse_id=1, meter_values=[energy(0, 10_000, BEGIN)])
    await cp.tx("updated", "rs-1", 15, seq_no=1, meter_values=[energy(15, 12_000)])
    await cp.tx("updated", "rs-1", 30, seq_no=2, meter_values=[energy(30, 500)])
    await cp.tx("updated", "rs-1", 45, seq_no=3, meter_values=[energy(45, 1_500)])
    await cp.tx("ended", "rs-1", 60, seq_no=4, meter_values=[energy(60, 2_000, END)])
    session = await wait_session(service.api, ADMIN, "CP201-RESET", done)
    assert session["energy_wh"] == 4_000 and "meter_reset" in session["anomalies"]
    timeline = (await service.api.get(f"/api/v1/sessions/{session['session_id']}/meter-values", headers=ADMIN)).json()
    registers = [(i["value"], i["energy_wh"], i["note"]) for i in timeline["items"]]
    assert registers == [
        ("10000", "0", None),
        ("12000", "2000", None),
        ("500", "2500", "meter_reset"),
        ("1500", "3500", None),
        ("2000", "4000", None),
    ]


async def test_stop_for_an_unknown_transaction_is_reconciled(service: RunningSession) -> None:
    cp = service.station("CP16-UNKNOWN")
    await cp.tx(
        "ended", "424242", 60, meter_stop_wh=9_000, stop_reason="Local", id_tag="CARD-7", connector_id=2,
        meter_values=[energy(0, 3_000, BEGIN), energy(30, 6_000, PERIODIC), energy(60, 9_000, END)],
    )  # fmt: skip
    session = await wait_session(service.api, ADMIN, "CP16-UNKNOWN", done)
    assert (session["energy_wh"], session["reconciled"], session["connector_id"]) == (6_000, True, 2)
    assert session["started_at"] == at(0).isoformat().replace("+00:00", "Z")
    events = await service.events.wait(session["session_id"], lambda e: "session.ended" in types(e))
    assert types(events) == ["session.started", "session.ended"]
    assert events[0]["reconciled"] is True and events[1]["reconciled"] is True and events[1]["energy_wh"] == 6_000


async def test_an_end_missing_a_message_goes_out_after_the_grace_and_is_revised_later(service: RunningSession) -> None:
    cp = service.station("CP201-GAP", "ocpp2.0.1")
    await cp.tx("started", "gap-1", 0, seq_no=0, evse_id=1, meter_values=[energy(0, 1_000, BEGIN)])
    await cp.tx("updated", "gap-1", 10, seq_no=1, meter_values=[energy(10, 3_000)])
    await cp.tx("ended", "gap-1", 30, seq_no=3, meter_values=[energy(30, 6_000, END)])
    session = await wait_session(service.api, ADMIN, "CP201-GAP", done)
    assert session["revision"] == 0 and "messages_missing" in session["anomalies"]  # held back for seqNo 2
    events = await service.events.wait(session["session_id"], lambda e: bool(ended(e)))  # the grace is 2 s here
    first = ended(events)[0]
    assert (first["revision"], first["energy_wh"], "messages_missing" in first["anomalies"]) == (1, 5_000, True)
    await cp.tx("updated", "gap-1", 20, seq_no=2, meter_values=[energy(20, 4_500)])
    events = await service.events.wait(session["session_id"], lambda e: len(ended(e)) == 2)
    second = ended(events)[1]
    assert (second["revision"], second["energy_wh"], second["anomalies"]) == (2, 5_000, [])


async def test_a_burst_is_consumed_in_batches_and_the_lag_shows_in_readyz(service: RunningSession) -> None:
    """Hundreds of one station's events: few transactions (batches), last seen is the newest, lag drains to 0."""
    from prometheus_client import REGISTRY
    from voltline_events import envelope_for, station_key
    from voltline_events.payloads import Heartbeat

    group = f"{service.settings.topic_prefix}voltline-session"

    def batches() -> tuple[float, float]:
        labels = {"topic": service.topics.station_events, "group": group}
        count = REGISTRY.get_sample_value("voltline_bus_batch_size_count", labels) or 0.0
        return count, REGISTRY.get_sample_value("voltline_bus_batch_size_sum", labels) or 0.0

    before = batches()
    cp = service.station("CP-BURST")
    await cp.tx("started", "9001", 0, connector_id=1, id_tag="CARD-B", meter_start_wh=0)
    beats = [
        envelope_for(Heartbeat(ocpp_version="ocpp1.6"), source="gateway/test", station_id="CP-BURST")
        for _ in range(400)
    ]
    await service.producer.publish_many([(service.topics.station_events, b, station_key("CP-BURST")) for b in beats])
    last = (await cp.tx("updated", "9001", 10, meter_values=[energy(10, 2500, PERIODIC)])).time
    session = await wait_session(service.api, ADMIN, "CP-BURST", lambda s: s["energy_wh"] == 2500)
    assert session["status"] == "active"

    async def drained() -> dict | None:
        body = (await service.api.get("/readyz")).json()
        lags = body.get("details", {}).get("consumer_lag", {})
        # Under load a detail can time out: it is then the string "unavailable: TimeoutError"; ask again.
        lag = lags.get(group) if isinstance(lags, dict) else None
        return body if lag and set(lag.values()) == {0} and body["status"] == "ready" else None

    body = await eventually(drained, what="the session consumer's lag back to 0 in /readyz")
    assert body["status"] == "ready"
    count, total = (a - b for a, b in zip(batches(), before, strict=True))
    assert total >= 402 and count <= total / 10, f"{count} batches for {total} events"

    async def last_seen() -> object:
        from sqlalchemy import text
        from voltline_store import create_engine

        engine = create_engine(service.settings.database_url or "")
        try:
            async with engine.connect() as conn:
                query = text("SELECT last_seen_at FROM stations WHERE station_id = 'CP-BURST'")
                return (await conn.execute(query)).scalar_one()
        finally:
            await engine.dispose()

    assert abs((await last_seen()) - last).total_seconds() < 0.001  # type: ignore[operator]


async def test_a_drivers_card_session_carries_the_driver(service: RunningSession) -> None:
    """ADR 0024: the gateway names the card's driver in the start; the session and its events carry it, and a
    stop with another driver's card does not change whose session it is."""
    cp = service.station("CP16-DRIVER")
    await cp.connect()
    await cp.tx("started", "2001", 0, connector_id=1, id_tag="RFID-D1", driver_id="drv-card", meter_start_wh=0)
    await cp.tx("ended", "2001", 20, id_tag="RFID-OTHER", driver_id="drv-other", meter_stop_wh=3000)
    session = await wait_session(service.api, ADMIN, "CP16-DRIVER", done)
    assert (session["driver_id"], session["id_token"]) == ("drv-card", "RFID-D1")
    mine = await service.api.get("/api/v1/sessions", params={"driver_id": "drv-card"}, headers=ADMIN)
    assert [s["session_id"] for s in mine.json()["items"]] == [session["session_id"]]
    events = await service.events.wait(session["session_id"], lambda e: "session.ended" in types(e))
    assert events[0]["driver_id"] == "drv-card" and ended(events)[0]["driver_id"] == "drv-card"

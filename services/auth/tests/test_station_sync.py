"""Local lists, cache clears and password rotation: what auth sends stations, over real Kafka and PostgreSQL.

Fake stations behind a fake gateway keep what they are sent (their local list, version, password),
so the assertions are about what a station ends up holding.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from auth_testing import Running, eventually, read_topic
from voltline_chassis.station_secrets import check
from voltline_events.payloads import SessionStarted, StationCredentialsRequested, StationRegistered

pytestmark = pytest.mark.asyncio(loop_scope="module")
NEXT_YEAR = (datetime.now(UTC) + timedelta(days=365)).replace(microsecond=0)


async def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def token(auth: Running, id_token: str, **extra: Any) -> None:
    await ok(await auth.api.post("/api/v1/id-tokens", json={"id_token": id_token, "type": "ISO14443", **extra}), 201)


async def new_list(auth: Running, list_id: str, *members: str) -> int:
    await ok(await auth.api.post("/api/v1/local-lists", json={"list_id": list_id}), 201)
    version = 1
    for member in members:
        version = (await ok(await auth.api.put(f"/api/v1/local-lists/{list_id}/entries/{member}")))["version"]
    return int(version)


async def station(auth: Running, station_id: str, **body: Any) -> None:
    await ok(await auth.api.post("/api/v1/stations", json={"station_id": station_id, **body}), 201)


def sends(auth: Running, station_id: str) -> list[dict[str, Any]]:
    return auth.gateway.stations[station_id].calls_of("SendLocalList")


async def test_full_then_differential_updates_in_each_version(auth: Running) -> None:
    await token(auth, "SYNC-A")
    await token(auth, "SYNC-B", group_id="FLEET", expires_at=NEXT_YEAR.isoformat())
    version = await new_list(auth, "L-SYNC", "SYNC-A", "sync-b")
    assert version == 3  # created at 1, one more per change
    await station(auth, "CP-S16", local_list="L-SYNC")
    await station(auth, "CP-S201", local_list="L-SYNC")
    assert (await auth.gateway.connect("CP-S16", "ocpp1.6")).status == "Accepted"
    assert (await auth.gateway.connect("CP-S201", "ocpp2.0.1")).status == "Accepted"
    s16, s201 = auth.gateway.stations["CP-S16"], auth.gateway.stations["CP-S201"]
    await eventually(lambda: s16.list_version == 3 and s201.list_version == 3)

    expiry = NEXT_YEAR.isoformat().replace("+00:00", "Z")
    assert sends(auth, "CP-S16") == [
        {
            "listVersion": 3,
            "updateType": "Full",
            "localAuthorizationList": [
                {"idTag": "SYNC-A", "idTagInfo": {"status": "Accepted"}},
                {"idTag": "SYNC-B", "idTagInfo": {"status": "Accepted", "expiryDate": expiry, "parentIdTag": "FLEET"}},
            ],
        }
    ]
    assert sends(auth, "CP-S201")[0]["localAuthorizationList"][1] == {
        "idToken": {"idToken": "SYNC-B", "type": "ISO14443"},
        "idTokenInfo": {
            "status": "Accepted",
            "cacheExpiryDateTime": expiry,
            "groupIdToken": {"idToken": "FLEET", "type": "Central"},
        },
    }
    assert sends(auth, "CP-S201")[0]["versionNumber"] == 3

    await token(auth, "SYNC-C")
    await ok(await auth.api.put("/api/v1/local-lists/L-SYNC/entries/SYNC-C"))
    await ok(await auth.api.delete("/api/v1/local-lists/L-SYNC/entries/SYNC-A"))
    await eventually(lambda: s16.list_version == 5 and s201.list_version == 5)
    assert set(s16.local_list) == set(s201.local_list) == {"SYNC-B", "SYNC-C"}
    later = sends(auth, "CP-S16")[1:]
    assert all(p["updateType"] == "Differential" for p in later)
    assert {"idTag": "SYNC-A"} in [e for p in later for e in p["localAuthorizationList"]]  # removal: no idTagInfo

    await eventually(lambda: _not_pending(auth, "CP-S201"))  # auth records what the station confirmed
    got = await ok(await auth.api.get("/api/v1/stations/CP-S201"))
    assert got["local_list"] == "L-SYNC" and got["sync"]["local_list_version_on_station"] == 5
    assert got["sync"]["connected"] is True and got["sync"]["ocpp_version"] == "ocpp2.0.1"


async def test_command_replies_are_read_with_a_long_poll(auth: Running) -> None:
    """An idle reply reader at the platform's 10 ms fetched 100 times a second (CPU in auth and in the broker
    for nothing): the replies to station commands are read with `command_reply_fetch_wait_ms` (200 ms), and a
    command's reply still arrives (the broker answers a held fetch when a record arrives)."""
    assert auth.app is not None
    consumer = auth.app.state.command_replies._follower._consumer
    assert consumer is not None and consumer._fetch_max_wait_ms == auth.settings.command_reply_fetch_wait_ms == 200
    await token(auth, "LP-A")
    await new_list(auth, "L-LP", "LP-A")
    await station(auth, "CP-LP", local_list="L-LP")
    assert (await auth.gateway.connect("CP-LP", "ocpp1.6")).status == "Accepted"
    await eventually(lambda: _confirmed(auth, "CP-LP"))  # SendLocalList answered and its reply read


async def _confirmed(auth: Running, station_id: str) -> bool:
    sync = (await auth.api.get(f"/api/v1/stations/{station_id}")).json()["sync"]
    return bool(sync["pending"] is False and sync["local_list_version_on_station"])


async def _not_pending(auth: Running, station_id: str) -> bool:
    sync = (await auth.api.get(f"/api/v1/stations/{station_id}")).json()["sync"]
    return bool(sync["pending"] is False and sync["local_list_version_on_station"] == 5)


async def test_token_blocked_while_a_session_runs(auth: Running) -> None:
    """The cache of every station that may hold the token is cleared and the lists holding it are updated."""
    await token(auth, "LIVE-1")
    version = await new_list(auth, "L-LIVE", "LIVE-1")
    connections = {
        "CP-L16": ("ocpp1.6", "L-LIVE"),  # authorised the token: may have it cached
        "CP-L201": ("ocpp2.0.1", "L-LIVE"),  # runs a session on it, started offline from its local list
        "CP-LISTONLY": ("ocpp1.6", "L-LIVE"),  # holds it in its list only
        "CP-ELSEWHERE": ("ocpp2.0.1", None),  # authorised it, no list
        "CP-QUIET": ("ocpp1.6", None),  # never saw it
    }
    for station_id, (ocpp, local_list) in connections.items():
        await station(auth, station_id, **({"local_list": local_list} if local_list else {}))
        await auth.gateway.connect(station_id, ocpp)
    fakes = auth.gateway.stations
    listed = [fakes[s] for s, (_, local_list) in connections.items() if local_list]
    await eventually(lambda: all(f.list_version == version for f in listed))

    assert (await auth.gateway.authorize("CP-L16", "LIVE-1")).status == "Accepted"
    elsewhere = await auth.gateway.authorize("CP-ELSEWHERE", "LIVE-1", ocpp_version="ocpp2.0.1")
    assert elsewhere.status == "Accepted"
    started = SessionStarted(session_id="S-LIVE", station_id="CP-L201", id_token="LIVE-1", started_at=datetime.now(UTC))
    await auth.gateway.publish(auth.topics.sessions, started, "CP-L201")
    await eventually(lambda: _sessions_on(auth, "LIVE-1"))

    await ok(await auth.api.patch("/api/v1/id-tokens/LIVE-1", json={"status": "Blocked"}))
    cleared = [fakes["CP-L16"], fakes["CP-L201"], fakes["CP-ELSEWHERE"]]
    await eventually(lambda: all(f.cache_clears == 1 for f in cleared))
    await eventually(lambda: all(f.list_version == version + 1 for f in listed))
    for fake in listed:
        assert fake.local_list["LIVE-1"] == {"status": "Blocked"}
        assert [p["updateType"] for p in fake.calls_of("SendLocalList")] == ["Full", "Differential"]
    assert "ClearCache" not in fakes["CP-LISTONLY"].actions()
    assert fakes["CP-QUIET"].calls == []  # no list, never saw the token: nothing to tell it
    for ocpp in ("ocpp1.6", "ocpp2.0.1"):
        assert (await auth.gateway.authorize("CP-L16", "LIVE-1", ocpp_version=ocpp)).status == "Blocked"


async def _sessions_on(auth: Running, id_token: str) -> bool:
    """Has auth taken in the session.started event? (read from its own store)"""
    from sqlalchemy import func, select
    from sqlalchemy.ext.asyncio import create_async_engine
    from voltline_auth.adapters.orm import active_sessions

    engine = create_async_engine(auth.settings.database_url or "")
    try:
        async with engine.connect() as conn:
            query = select(func.count()).where(active_sessions.c.id_token_key == id_token.upper())
            return int((await conn.execute(query)).scalar_one()) > 0
    finally:
        await engine.dispose()


async def test_offline_station_catches_up_when_it_boots(auth: Running) -> None:
    await token(auth, "OFF-1")
    await new_list(auth, "L-OFF")
    await station(auth, "CP-OFF", local_list="L-OFF")
    await auth.gateway.connect("CP-OFF", "ocpp2.0.1")
    off = auth.gateway.stations["CP-OFF"]
    await eventually(lambda: off.list_version == 1)
    off.online = False
    await ok(await auth.api.put("/api/v1/local-lists/L-OFF/entries/OFF-1"))

    async def failed() -> bool:
        sync = (await auth.api.get("/api/v1/stations/CP-OFF")).json()["sync"]
        return bool(sync["pending"] and "station offline" in (sync["last_error"] or ""))

    await eventually(failed)
    assert off.list_version == 1
    await auth.gateway.connect("CP-OFF", "ocpp2.0.1")
    await eventually(lambda: off.list_version == 2 and "OFF-1" in off.local_list)


async def test_station_that_lost_its_list_or_disagrees_gets_a_full_update(auth: Running) -> None:
    await token(auth, "RESET-1")
    await new_list(auth, "L-RESET", "RESET-1")
    await station(auth, "CP-RESET", local_list="L-RESET")
    await auth.gateway.connect("CP-RESET", "ocpp1.6")
    reset = auth.gateway.stations["CP-RESET"]
    await eventually(lambda: reset.list_version == 2)

    reset.list_version, reset.local_list = 0, {}  # a factory reset
    asked = await ok(await auth.api.post("/api/v1/stations/CP-RESET/local-list-version"))
    assert asked == {"station_id": "CP-RESET", "version": 0}
    await eventually(lambda: reset.list_version == 2 and "RESET-1" in reset.local_list)
    assert sends(auth, "CP-RESET")[-1]["updateType"] == "Full"

    reset.refuse_once["SendLocalList"] = "VersionMismatch"
    await token(auth, "RESET-2")
    await ok(await auth.api.put("/api/v1/local-lists/L-RESET/entries/RESET-2"))
    await eventually(lambda: reset.list_version == 3 and "RESET-2" in reset.local_list)
    assert [p["updateType"] for p in sends(auth, "CP-RESET")[-2:]] == ["Differential", "Full"]


async def test_unassigning_clears_the_list_and_unsupported_stations_are_left_alone(auth: Running) -> None:
    await token(auth, "GONE-1")
    await new_list(auth, "L-GONE", "GONE-1")
    await station(auth, "CP-GONE", local_list="L-GONE")
    await auth.gateway.connect("CP-GONE", "ocpp2.0.1")
    gone = auth.gateway.stations["CP-GONE"]
    await eventually(lambda: gone.list_version == 2)
    await ok(await auth.api.patch("/api/v1/stations/CP-GONE", json={"local_list": None}))
    await eventually(lambda: gone.list_version == 3 and gone.local_list == {})

    await station(auth, "CP-OLD", local_list="L-GONE")
    await auth.gateway.connect("CP-OLD", "ocpp1.6", list_version=-1)  # 1.6: -1 = no local list support
    await eventually(lambda: _unsupported(auth, "CP-OLD"))
    assert auth.gateway.stations["CP-OLD"].actions() == ["GetLocalListVersion"]


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
async def test_a_station_ends_up_with_exactly_the_list_voltline_says(auth: Running, version: str) -> None:
    suffix = version[4:].replace(".", "")
    foreign = {"FOREIGN-1": {"status": "Accepted"}}
    # A station with no list assigned that reports holding one from elsewhere (another CSMS, a factory image) ...
    await station(auth, f"CP-STRAY-{suffix}")
    await auth.gateway.connect(f"CP-STRAY-{suffix}", version, list_version=5, local_list=dict(foreign))
    stray = auth.gateway.stations[f"CP-STRAY-{suffix}"]

    versions: list[int] = []

    async def asked() -> bool:  # once auth has seen the station connect (its version decides the call)
        answer = await auth.api.post(f"/api/v1/stations/CP-STRAY-{suffix}/local-list-version")
        versions.extend([answer.json()["version"]] if answer.status_code == 200 else [])
        return bool(versions)

    await eventually(asked)
    assert versions == [5]
    await eventually(lambda: stray.local_list == {} and stray.list_version == 6)
    assert [p["updateType"] for p in sends(auth, f"CP-STRAY-{suffix}")] == ["Full"]
    stray.list_version, stray.local_list = 11, dict(foreign)  # it got one again; the operator asks it again
    asked = await ok(await auth.api.post(f"/api/v1/stations/CP-STRAY-{suffix}/local-list-version"))
    assert asked["version"] == 11
    await eventually(lambda: stray.local_list == {} and stray.list_version == 12)
    # ... and one whose list was unassigned while it reported a version voltline did not record.
    await token(auth, f"KEPT-{suffix}")
    await new_list(auth, f"L-KEPT-{suffix}", f"KEPT-{suffix}")
    await station(auth, f"CP-DRIFT-{suffix}", local_list=f"L-KEPT-{suffix}")
    await auth.gateway.connect(f"CP-DRIFT-{suffix}", version)
    drift = auth.gateway.stations[f"CP-DRIFT-{suffix}"]
    await eventually(lambda: drift.list_version == 2)
    drift.list_version, drift.local_list = 9, dict(foreign)  # changed behind voltline's back
    await ok(await auth.api.patch(f"/api/v1/stations/CP-DRIFT-{suffix}", json={"local_list": None}))
    await eventually(lambda: drift.local_list == {} and drift.list_version == 10)
    assert sends(auth, f"CP-DRIFT-{suffix}")[-1]["updateType"] == "Full"


async def _unsupported(auth: Running, station_id: str) -> bool:
    sync = (await auth.api.get(f"/api/v1/stations/{station_id}")).json()["sync"]
    return bool(sync["local_list_supported"] is False and not sync["pending"])


async def registry_hash(auth: Running, station_id: str) -> str | None:
    """The newest password hash the gateway has been told about (None until the first record is on the topic)."""
    entries = await read_topic(auth.settings.kafka_bootstrap, auth.topics.station_registry)
    mine = [env for key, env in entries if key == station_id.encode()]
    return str(mine[-1]["payload"]["password_hash"]) if mine else None


@pytest.mark.parametrize(("ocpp", "action"), [("ocpp1.6", "ChangeConfiguration"), ("ocpp2.0.1", "SetVariables")])
async def test_password_rotation(auth: Running, ocpp: str, action: str) -> None:
    station_id, old, new = f"CP-ROT-{ocpp[-3:]}", "the-old-password-0001", "the-new-password-0002"
    await station(auth, station_id, password=old)
    await auth.online(station_id, ocpp)
    fake = auth.gateway.stations[station_id]
    await eventually(lambda: _published_matches(auth, station_id, old))

    fake.refuse_once[action] = "Rejected"
    refused = await auth.api.post(f"/api/v1/stations/{station_id}/password-rotation", json={"password": new})
    assert refused.status_code == 409 and "Rejected" in refused.json()["detail"]
    assert check(old, await registry_hash(auth, station_id) or "")

    fake.online = False
    offline = await auth.api.post(f"/api/v1/stations/{station_id}/password-rotation", json={"password": new})
    assert offline.status_code == 409 and offline.json()["retry"] is True
    fake.online = True

    rotated = await auth.api.post(f"/api/v1/stations/{station_id}/password-rotation", json={"password": new})
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["station_answer"] == "Accepted" and new not in rotated.text
    assert fake.password == new

    async def switched() -> bool:
        published = await registry_hash(auth, station_id)
        return published is not None and bool(check(new, published)) and not check(old, published)

    await eventually(switched)

    generated = await ok(await auth.api.post(f"/api/v1/stations/{station_id}/password-rotation", json={}))
    assert generated["station_answer"] == "Accepted"
    assert fake.password is not None and len(fake.password) == 40 and fake.password not in str(generated)
    await eventually(lambda: _published_matches(auth, station_id, fake.password or ""))
    audit = await ok(await auth.api.get("/api/v1/audit", params={"target_id": station_id}))
    actions = [e["action"] for e in audit["items"]]
    assert actions.count("station.password_rotated") == 2 and "station.password_rotation_failed" in actions
    assert new not in str(audit) and old not in str(audit)


async def _published_matches(auth: Running, station_id: str, password: str) -> bool:
    published = await registry_hash(auth, station_id)
    return published is not None and bool(check(password, published))


async def test_rotation_needs_a_connected_password_station(auth: Running) -> None:
    await station(auth, "CP-NEVER", password="a-password-of-16-chars")
    never = await auth.api.post("/api/v1/stations/CP-NEVER/password-rotation", json={})
    assert never.status_code == 409 and "not connected" in never.json()["detail"]
    await station(auth, "CP-NOPW")
    nopw = await auth.api.post("/api/v1/stations/CP-NOPW/password-rotation", json={})
    assert nopw.status_code == 422 and nopw.json()["errors"][0]["field"] == "body.password"


async def test_rotation_is_read_your_writes(auth: Running) -> None:
    """The new password is announced (pending) before the station is told, auth answers the gateway's question
    with it, and the old one stays valid until the station has connected again."""
    station_id, old, new = "CP-RYW", "the-old-password-0001", "the-new-password-0002"
    await station(auth, station_id, password=old)
    await auth.online(station_id, "ocpp1.6")
    rotated = await auth.api.post(f"/api/v1/stations/{station_id}/password-rotation", json={"password": new})
    assert rotated.status_code == 200, rotated.text

    answer = await auth.gateway._ask(StationCredentialsRequested(), station_id)
    assert isinstance(answer, StationRegistered)
    assert check(new, answer.password_hash or "") and [check(old, h) for h in answer.other_password_hashes] == [True]

    published = await read_topic(auth.settings.kafka_bootstrap, auth.topics.station_registry)
    entries = [env["payload"] for key, env in published if key == station_id.encode()]
    pending = next(i for i, e in enumerate(entries) if any(check(new, h) for h in e["other_password_hashes"]))
    switched = next(i for i, e in enumerate(entries) if check(new, e["password_hash"]))
    assert pending < switched and check(old, entries[pending]["password_hash"])

    await auth.online(station_id, "ocpp1.6")  # connected with the new one: the old one goes

    async def old_dropped() -> bool:
        answer = await auth.gateway._ask(StationCredentialsRequested(), station_id)
        return isinstance(answer, StationRegistered) and answer.other_password_hashes == []

    await eventually(old_dropped)

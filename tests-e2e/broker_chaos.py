"""Killing the embedded broker under load and counting what stations were told was stored but never arrived.

Used by test_broker_kills.py (a few kills) and `python -m bench.broker_kills` (20 kills). The system is
`make run`'s: tansu, SQLite stores, the gateway's spool, and a supervisor that brings the broker back.
Each station charges in a loop with OCPP 2.0.1 TransactionEvents (Started, Updated, Ended), resending a
call until it is answered, as a station does; a loss is an Ended that was answered but whose session never
shows up as completed in the session service.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from voltline_devinfra._proc import free_port
from voltline_devinfra.stack import Stack
from voltline_devinfra.tansu import TansuBroker
from voltline_devinfra.waiting import eventually
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

SERVICES = ("auth", "session", "gateway")
_ids = itertools.count(1)


@dataclass
class Tally:
    ended: set[tuple[str, str]] = field(default_factory=set)  # (station, transaction) answered Ended
    answered: int = 0
    retries: int = 0


@dataclass
class ChaosSystem:
    broker: TansuBroker
    stack: Stack
    token: str
    ocpp_url: str

    def url(self, service: str) -> str:
        return self.stack.services[service].url


def start(tmp: Path, *, publish_timeout_s: float = 3.0) -> Iterator[ChaosSystem]:
    """tansu + auth, session and gateway on SQLite, as under `make run`, with the broker supervised."""
    broker = TansuBroker(log_path=tmp / "logs" / "tansu.log").start()
    token = secrets.token_urlsafe(24)
    ports = {name: free_port() for name in SERVICES}
    ocpp_port = free_port(exclude=frozenset(ports.values()))
    stack = Stack(
        common_env={
            "VOLTLINE_KAFKA_BOOTSTRAP": broker.bootstrap_servers,
            "VOLTLINE_KAFKA_IDEMPOTENCE": "false",
            "VOLTLINE_KAFKA_SESSION_TIMEOUT_MS": "2000",
            "VOLTLINE_ADMIN_TOKEN": token,
            "VOLTLINE_OCPP_PORT": str(ocpp_port),
            "VOLTLINE_PUBLISH_TIMEOUT_S": str(publish_timeout_s),
            "VOLTLINE_AUTH_TIMEOUT_S": "2",
        },
        ports=ports,
        database_urls={name: f"sqlite+aiosqlite:///{tmp}/{name}.db" for name in SERVICES if name != "gateway"},
        log_dir=tmp / "logs",
        names=SERVICES,
        extra_env={"gateway": {"VOLTLINE_SPOOL_DIR": str(tmp / "gateway-spool")}},
    )
    stop = threading.Event()

    def supervise() -> None:  # what `make run` does for the broker
        while not stop.wait(0.2):
            with contextlib.suppress(Exception):
                broker.revive()

    supervisor = threading.Thread(target=supervise, name="broker-supervisor", daemon=True)
    try:
        stack.start(timeout=120)
        supervisor.start()
        yield ChaosSystem(broker, stack, token, f"ws://127.0.0.1:{ocpp_port}/ocpp")
    finally:
        stop.set()
        if supervisor.is_alive():
            supervisor.join(5)
        stack.stop()
        broker.stop()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event(kind: str, tx: str, seq: int, wh: int) -> dict[str, Any]:
    trigger = {"Started": "CablePluggedIn", "Updated": "MeterValuePeriodic", "Ended": "EVCommunicationLost"}[kind]
    context = {"Started": "Transaction.Begin", "Updated": "Sample.Periodic", "Ended": "Transaction.End"}[kind]
    info: dict[str, Any] = {"transactionId": tx}
    if kind == "Ended":
        info["stoppedReason"] = "EVDisconnected"
    value = {"value": wh, "measurand": "Energy.Active.Import.Register", "context": context}
    return {
        "eventType": kind,
        "timestamp": _now(),
        "triggerReason": trigger,
        "seqNo": seq,
        "transactionInfo": info,
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [{"timestamp": _now(), "sampledValue": [value]}],
    }


async def _station(url: str, station_id: str, until: float, tally: Tally, pause_s: float) -> None:
    """Charge again and again until `until`, `pause_s` between sessions; every call is resent until answered."""
    socket: Any = None
    number = 0

    async def call(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        nonlocal socket
        message_id = f"{station_id}-{next(_ids)}"
        while True:
            try:
                if socket is None:
                    socket = await connect(f"{url}/{station_id}", subprotocols=["ocpp2.0.1"], open_timeout=5)  # type: ignore[list-item]
                await socket.send(json.dumps([2, message_id, action, payload]))
                async with asyncio.timeout(20):
                    while True:
                        frame = json.loads(await socket.recv())
                        if frame[0] in (3, 4) and frame[1] == message_id:
                            break
                if frame[0] == 3:
                    tally.answered += 1
                    return frame[2]  # type: ignore[no-any-return]
            except (OSError, WebSocketException, TimeoutError):
                if socket is not None:
                    with contextlib.suppress(Exception):
                        await socket.close()
                socket = None
            tally.retries += 1
            await asyncio.sleep(0.3 + random.random() * 0.3)

    try:
        await call("BootNotification", {"reason": "PowerUp", "chargingStation": {"vendorName": "V", "model": "M"}})
        while time.monotonic() < until:
            number += 1
            tx = f"{station_id}-T{number}"
            await call("TransactionEvent", _event("Started", tx, 0, 1000))
            await call("TransactionEvent", _event("Updated", tx, 1, 1500))
            await call("TransactionEvent", _event("Ended", tx, 2, 2000))
            tally.ended.add((station_id, tx))
            await asyncio.sleep(pause_s)
    finally:
        if socket is not None:
            with contextlib.suppress(Exception):
                await socket.close()


async def run(
    system: ChaosSystem,
    *,
    stations: int,
    kills: int,
    between_kills_s: tuple[float, float] = (3.0, 6.0),
    pause_s: float = 0.2,
    settle_s: float = 180.0,
    report: Any = print,
) -> tuple[Tally, set[tuple[str, str]]]:
    """Load, `kills` broker kills at random moments, then wait for the stores; returns the tally and the losses."""
    async with httpx.AsyncClient(
        base_url=f"{system.url('auth')}/api/v1", headers={"Authorization": f"Bearer {system.token}"}, timeout=30
    ) as auth:
        ids = [f"CHAOS-{secrets.token_hex(3)}-{n}" for n in range(stations)]
        for station_id in ids:
            response = await auth.post("/stations", json={"station_id": station_id})
            assert response.status_code == 201, response.text
    tally = Tally()
    duration = sum(between_kills_s) / 2 * (kills + 1)
    until = time.monotonic() + duration
    await asyncio.sleep(2)  # the gateway learns the new stations from the registry
    load = [asyncio.create_task(_station(system.ocpp_url, s, until, tally, pause_s)) for s in ids]
    for number in range(1, kills + 1):
        await asyncio.sleep(random.uniform(*between_kills_s))
        await asyncio.to_thread(system.broker.kill)
        report(f"kill {number}/{kills}: broker killed after {tally.answered} answers")
    await asyncio.gather(*load)
    report(f"load done: {len(tally.ended)} transactions ended and answered, {tally.retries} resent calls")
    started = time.monotonic()
    missing = await _missing(system, tally, settle_s)
    report(f"stores settled in {time.monotonic() - started:.1f} s; {len(missing)} answered transactions missing")
    return tally, missing


async def _missing(system: ChaosSystem, tally: Tally, settle_s: float) -> set[tuple[str, str]]:
    """The answered Ended whose session is not completed in the session store after at most `settle_s`."""
    async with httpx.AsyncClient(
        base_url=f"{system.url('session')}/api/v1", headers={"Authorization": f"Bearer {system.token}"}, timeout=30
    ) as sessions:
        deadline = time.monotonic() + settle_s
        stations = sorted({s for s, _ in tally.ended})
        while True:
            completed: set[tuple[str, str]] = set()
            for station_id in stations:
                params = {"station_id": station_id, "status": "completed", "limit": 1000}
                with contextlib.suppress(httpx.HTTPError):
                    for item in (await sessions.get("/sessions", params=params)).json()["items"]:
                        completed.add((station_id, item["transaction_id"]))
            missing = tally.ended - completed
            if not missing or time.monotonic() > deadline:
                return missing
            await asyncio.sleep(1)


LOCAL_REASON = "answered by the gateway from the published decision"


@dataclass
class LifecycleSeen:
    """What auth shows after the kill: each group's presence (`connected`, `ocpp_version`), and the decision log's
    rows of the Authorize answers the gateway gave alone (ADR 0015) against how many it gave; and whether the
    session service shows each station connected."""

    presence: dict[str, list[Any]]
    session_connected: dict[str, list[bool | None]]  # the session service's view (it reads the station stream)
    local_answers_given: int
    local_answers_logged: list[dict[str, Any]]


async def lifecycle_while_auth_is_away(system: ChaosSystem, *, staying: int, leaving: int) -> LifecycleSeen:
    """Register stations and a card; a station answered from the published decisions; halt auth. The station is
    answered locally again; `staying` stations connect and boot (answered) and stay, `leaving` ones do the same and
    leave right before the broker is killed (the field case of session 9); resume auth. Returns what auth then
    shows, once every station's presence is settled and every local answer is logged."""
    tag = secrets.token_hex(3)
    groups = {"staying": [f"LIFE-{tag}-S{n}" for n in range(staying)]}
    groups["leaving"] = [f"LIFE-{tag}-L{n}" for n in range(leaving)]
    audited, card = f"LIFE-{tag}-A", f"LIFE-{tag}-CARD"
    auth = httpx.AsyncClient(
        base_url=f"{system.url('auth')}/api/v1", headers={"Authorization": f"Bearer {system.token}"}, timeout=30
    )
    async with auth:
        for station_id in (*groups["staying"], *groups["leaving"], audited):
            response = await auth.post("/stations", json={"station_id": station_id})
            assert response.status_code == 201, response.text
        response = await auth.post("/id-tokens", json={"id_token": card, "type": "ISO14443"})
        assert response.status_code == 201, response.text
        answering = await _booted(system.ocpp_url, audited)
        await eventually(  # auth answers until the gateway has read the card's published decision
            lambda: _authorized_locally(system, answering, card), within=60, what="an Authorize answered locally"
        )
        given = 1
        await asyncio.to_thread(system.stack.halt, "auth")
        for _ in range(2):  # auth is away: only the gateway's table can say Accepted (the fallback is Invalid)
            assert await _authorize(answering, card) == "Accepted"
            given += 1
        sockets = [await _booted(system.ocpp_url, s) for s in (*groups["staying"], *groups["leaving"])]
        for socket in sockets[len(groups["staying"]) :]:
            await socket.close()
        await asyncio.to_thread(system.broker.kill)  # the supervisor brings it back, empty
        await asyncio.to_thread(system.stack.resume, "auth", 120)

        async def shown(station_id: str) -> dict[str, Any] | None:
            sync = (await auth.get(f"/stations/{station_id}")).json()["sync"]
            return {k: sync[k] for k in ("connected", "ocpp_version")} if sync else None

        async def logged() -> list[dict[str, Any]]:
            page = (await auth.get("/authorizations", params={"station_id": audited, "limit": 100})).json()
            return [row for row in page["items"] if row["reason"] == LOCAL_REASON]

        async def in_session(station_id: str) -> bool | None:
            url = f"{system.url('session')}/api/v1/station-presence/{station_id}"  # the same admin token
            found = await auth.get(url)
            return bool(found.json()["connected"]) if found.status_code == 200 else None

        async def settled() -> LifecycleSeen:
            presence = {group: [await shown(s) for s in ids] for group, ids in groups.items()}
            session = {group: [await in_session(s) for s in ids] for group, ids in groups.items()}
            return LifecycleSeen(presence, session, given, await logged())

        seen = await eventually(
            settled,
            ok=lambda seen: (
                all(p is not None for ps in seen.presence.values() for p in ps)
                and not any(p["connected"] for p in seen.presence["leaving"])
                and seen.session_connected == {"staying": [True] * staying, "leaving": [False] * leaving}
                and len(seen.local_answers_logged) >= given
            ),
            within=180,
            what="auth's presence of every station and its log of every local answer",
        )
        await asyncio.sleep(2)  # a copy logged twice would show by now (the log is written in batches)
        seen.local_answers_logged = await logged()
        for socket in (*sockets[: len(groups["staying"])], answering):
            await socket.close()
    return seen


async def _authorize(socket: Any, card: str) -> str:
    message_id = f"auth-{next(_ids)}"
    await socket.send(json.dumps([2, message_id, "Authorize", {"idToken": {"idToken": card, "type": "ISO14443"}}]))
    while (frame := json.loads(await socket.recv()))[1] != message_id:
        pass
    assert frame[0] == 3, frame
    return str(frame[2]["idTokenInfo"]["status"])


async def _authorized_locally(system: ChaosSystem, socket: Any, card: str) -> bool:
    """One Authorize; True when the gateway answered it from its table (its local-answer count went up)."""

    async def local() -> float:
        text = (await asyncio.to_thread(httpx.get, f"{system.url('gateway')}/metrics", timeout=30)).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("voltline_gateway_decision_seconds_count{") and 'outcome="local"' in line
        )

    before = await local()
    assert await _authorize(socket, card) == "Accepted"
    return await local() > before


async def _booted(url: str, station_id: str) -> Any:
    """A station's open socket once its boot was answered (the gateway has the broker's acknowledgements of its
    connect and boot by then: ADR 0037); the gateway may not know the station yet: connect again until it does."""

    async def attempt() -> Any:
        try:
            socket = await connect(f"{url}/{station_id}", subprotocols=["ocpp2.0.1"], open_timeout=20)  # type: ignore[list-item]
        except (OSError, WebSocketException, TimeoutError):
            return None
        boot = {"reason": "PowerUp", "chargingStation": {"vendorName": "V", "model": "M"}}
        await socket.send(json.dumps([2, "boot-1", "BootNotification", boot]))
        while (frame := json.loads(await socket.recv()))[1] != "boot-1":
            pass
        assert frame[0] == 3, frame
        return socket

    return await eventually(attempt, within=120, interval=0.5, what=f"{station_id}'s boot answered")

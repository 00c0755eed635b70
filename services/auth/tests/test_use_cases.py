"""The auth use cases on in-memory fakes (auth_fakes): no Kafka, no database, milliseconds each.

What travels over HTTP and Kafka, and what the SQL repositories do, is proven by the integration tests
(test_api_*, test_station_sync, test_decisions); these prove the rules of the use cases themselves.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from auth_fakes import NOW, Fakes, fake_auth
from voltline_auth.domain.stations import BootPolicy, InvalidStation, UnknownStationPolicy
from voltline_auth.service_layer import local_lists, presence, rotation, stations, tokens
from voltline_auth.service_layer.decisions import decide_authorization
from voltline_auth.service_layer.drivers import create_driver
from voltline_chassis.station_secrets import check
from voltline_events import decode_payload, envelope_for
from voltline_events.payloads import SessionEnded, SessionStarted
from voltline_events.payloads.authorization import AuthorizationRequested

ADMIN = "admin"
PASSWORD = "sixteen-chars-or-more"


@pytest.fixture
def fakes() -> Fakes:
    return fake_auth()


def registry(fakes: Fakes) -> list[tuple[str | None, dict]]:  # type: ignore[type-arg]
    """What the registry topic carries: (station id, entry), in order."""
    topic = fakes.ctx.topics.station_registry
    return [(e.station_id, decode_payload(e).model_dump()) for e in fakes.published(topic)]


async def test_registering_keeps_a_verifier_publishes_the_entry_and_audits(fakes: Fakes) -> None:
    station = await stations.register_station(fakes.ctx, "CP-1", password=PASSWORD, security_profile=None, actor=ADMIN)

    assert station.security_profile == 1 and station.status == "Accepted"
    assert station.password_hash is not None and PASSWORD not in station.password_hash
    assert check(PASSWORD, station.password_hash) is True
    [(station_id, entry)] = registry(fakes)
    assert station_id == "CP-1" and entry["password_hash"] == station.password_hash and not entry["deleted"]
    async with fakes.uow() as uow:
        assert await uow.stations.get("CP-1") == station
        [audited] = await uow.audit.list()
    assert (audited.action, audited.actor, audited.details["password_set"]) == ("station.registered", ADMIN, True)


async def test_a_batch_with_one_known_station_registers_none(fakes: Fakes) -> None:
    await stations.register_station(fakes.ctx, "CP-1", password=None, security_profile=0, actor=ADMIN)
    published = len(fakes.store.published)

    batch = [stations.NewStation("CP-2"), stations.NewStation("CP-1")]
    with pytest.raises(stations.StationExists, match="CP-1"):
        await stations.register_stations(fakes.ctx, batch, actor=ADMIN)

    async with fakes.uow() as uow:
        assert await uow.stations.get("CP-2") is None
    assert len(fakes.store.published) == published


async def test_a_missing_local_list_rolls_the_registration_back(fakes: Fakes) -> None:
    with pytest.raises(InvalidStation, match="no local list"):
        await stations.register_station(
            fakes.ctx, "CP-1", password=None, security_profile=0, local_list="NOPE", actor=ADMIN
        )
    async with fakes.uow() as uow:
        assert await uow.stations.get("CP-1") is None
    assert fakes.store.published == []


async def test_an_unknown_station_booting_under_the_pending_policy_waits_for_approval(fakes: Fakes) -> None:
    policy = BootPolicy(UnknownStationPolicy.PENDING, heartbeat_interval=300, retry_interval=60)

    answer = await stations.answer_boot(fakes.ctx, policy, "CP-NEW")

    assert answer.status == "Pending"
    async with fakes.uow() as uow:
        station = await uow.stations.get("CP-NEW")
        assert station is not None and station.status == "Pending"
        assert await uow.sync.get("CP-NEW") is None  # nothing to push to a station that is not accepted
    assert registry(fakes)[0][0] == "CP-NEW"


async def test_an_accepted_boot_makes_the_station_due_a_sync_after_the_delay(fakes: Fakes) -> None:
    await stations.register_station(fakes.ctx, "CP-1", password=None, security_profile=0, actor=ADMIN)
    policy = BootPolicy(UnknownStationPolicy.REJECT, heartbeat_interval=300, retry_interval=60)

    answer = await stations.answer_boot(fakes.ctx, policy, "CP-1")

    assert answer.status == "Accepted" and answer.interval == 300
    async with fakes.uow() as uow:
        sync = await uow.sync.get("CP-1")
    assert sync is not None and sync.pending and sync.next_attempt_at == NOW + fakes.ctx.boot_sync_delay


async def test_blocking_a_listed_token_updates_the_list_and_clears_caches_where_it_was_used(fakes: Fakes) -> None:
    ctx = fakes.ctx
    for station_id in ("CP-1", "CP-2"):
        await stations.register_station(ctx, station_id, password=None, security_profile=0, actor=ADMIN)
    await local_lists.create_list(ctx, "fleet", description=None, actor=ADMIN)
    await stations.update_station(ctx, "CP-1", {"local_list": "fleet"}, actor=ADMIN)
    await tokens.create_token(ctx, "abc123", "ISO14443", actor=ADMIN)
    await local_lists.add_entry(ctx, "fleet", "abc123", None, actor=ADMIN)
    started = SessionStarted(session_id="S-1", station_id="CP-2", id_token="ABC123", started_at=NOW)
    await presence.session_started(ctx, envelope_for(started, source="session/test"), started)
    kicks = len(fakes.kicks)

    blocked = await tokens.update_token(ctx, "ABC123", None, {"status": "Blocked"}, actor=ADMIN)

    assert blocked.status == "Blocked"
    async with fakes.uow() as uow:
        fleet = await uow.lists.get("fleet")
        assert fleet is not None and fleet.version == 3  # created 1, entry added 2, entry changed 3
        assert await uow.lists.changes_since("fleet", 2) == {("ABC123", "ISO14443"): "abc123"}
        syncs = await uow.sync.many(["CP-1", "CP-2"])
    assert syncs["CP-1"].pending and not syncs["CP-1"].cache_clear_pending  # holds the list: a Differential
    assert syncs["CP-2"].cache_clear_pending  # a session ran on it there: it may be cached
    assert len(fakes.kicks) == kicks + 1


async def test_a_redelivered_session_start_counts_once(fakes: Fakes) -> None:
    driver = await create_driver(fakes.ctx, name="Ada", email="ada@example.com", actor=ADMIN)
    started = SessionStarted(session_id="S-1", station_id="CP-1", driver_id=driver.driver_id, started_at=NOW)
    envelope = envelope_for(started, source="session/test")

    await presence.session_started(fakes.ctx, envelope, started)
    await presence.session_started(fakes.ctx, envelope, started)

    async with fakes.uow() as uow:
        assert await uow.sessions.count_for_driver(driver.driver_id, station_id="CP-9", evse_id=None) == 1
    ended = SessionEnded(
        session_id="S-1", station_id="CP-1", started_at=NOW, ended_at=NOW + timedelta(hours=1), energy_wh=1
    )
    await presence.session_ended(fakes.ctx, envelope_for(ended, source="session/test"), ended)
    async with fakes.uow() as uow:
        assert await uow.sessions.list(driver_id=driver.driver_id, limit=10) == []


async def test_a_driver_at_their_session_limit_is_refused_a_second_start(fakes: Fakes) -> None:
    ctx = fakes.ctx
    driver = await create_driver(ctx, name="Ada", email="ada@example.com", max_concurrent_sessions=1, actor=ADMIN)
    await tokens.create_token(ctx, "CARD-1", "ISO14443", driver_id=driver.driver_id, actor=ADMIN)
    recorded: list[dict] = []  # type: ignore[type-arg]

    start = AuthorizationRequested.model_validate(
        {"ocpp_version": "ocpp2.0.1", "id_token": {"id_token": "CARD-1", "type": "ISO14443"},
         "purpose": "start_transaction", "evse_id": 1}
    )  # fmt: skip

    first = await decide_authorization(ctx, recorded.append, "CP-1", start)
    started = SessionStarted(session_id="S-1", station_id="CP-1", evse_id=1, id_token="CARD-1", started_at=NOW)
    await presence.session_started(ctx, envelope_for(started, source="session/test"), started)
    second = await decide_authorization(ctx, recorded.append, "CP-2", start)
    unknown = AuthorizationRequested.model_validate(
        {"ocpp_version": "ocpp1.6", "id_token": {"id_token": "NOPE", "type": "ISO14443"}, "purpose": "authorize"}
    )
    third = await decide_authorization(ctx, recorded.append, "CP-2", unknown)

    assert (first.status, second.status, third.status) == ("Accepted", "ConcurrentTx", "Unknown")
    assert [r["status"] for r in recorded] == ["Accepted", "ConcurrentTx", "Unknown"]


async def test_a_rotation_switches_passwords_only_when_the_station_accepts(fakes: Fakes) -> None:
    ctx = fakes.ctx
    old = await stations.register_station(ctx, "CP-1", password=PASSWORD, security_profile=1, actor=ADMIN)
    async with fakes.uow() as uow:
        await uow.sync.set("CP-1", ocpp_version="ocpp1.6")
        await uow.commit()

    done = await rotation.rotate_password(ctx, "CP-1", "another-sixteen-chars", actor=ADMIN)

    assert done.station.previous_password_hash == old.password_hash
    assert check("another-sixteen-chars", done.station.password_hash or "") is True
    assert fakes.commands.sent[0][1].action == "ChangeConfiguration"

    fakes.commands.status = "Rejected"
    with pytest.raises(rotation.RotationFailed):
        await rotation.rotate_password(ctx, "CP-1", None, actor=ADMIN)
    async with fakes.uow() as uow:
        kept = await uow.stations.get("CP-1")
        assert kept is not None and kept.password_hash == done.station.password_hash
        assert kept.pending_password_hash is None
        [failed, *_] = await uow.audit.list(target_id="CP-1")
    assert failed.action == "station.password_rotation_failed"


async def test_a_station_of_unknown_version_cannot_be_rotated(fakes: Fakes) -> None:
    await stations.register_station(fakes.ctx, "CP-1", password=PASSWORD, security_profile=1, actor=ADMIN)
    with pytest.raises(rotation.VersionUnknown):
        await rotation.rotate_password(fakes.ctx, "CP-1", None, actor=ADMIN)
    assert fakes.commands.sent == []


async def test_deleting_a_station_publishes_a_tombstone_and_forgets_its_sync(fakes: Fakes) -> None:
    await stations.register_station(fakes.ctx, "CP-1", password=None, security_profile=0, actor=ADMIN)
    await stations.update_station(fakes.ctx, "CP-1", {"status": "Rejected"}, actor=ADMIN)

    await stations.delete_station(fakes.ctx, "CP-1", actor=ADMIN)

    station_id, tombstone = registry(fakes)[-1]
    assert station_id == "CP-1" and tombstone["deleted"] and tombstone["status"] == "Rejected"
    with pytest.raises(stations.StationNotFound):
        await stations.get_station(fakes.ctx, "CP-1")
    async with fakes.uow() as uow:
        assert await uow.sync.get("CP-1") is None

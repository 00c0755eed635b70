"""Security profiles over real TLS: each accepts the right station and refuses wrong or missing credentials.

The registry comes from Kafka (the auth service's compacted topic), as in production.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from gateway_testing import TOKEN, FakeAuth, RunningGateway, charger, eventually, running_gateway
from pki_testing import Authority, Issued
from voltline_chassis.api_keys import hash_api_key, new_api_key, record_signing_key, sign_record
from voltline_events import envelope_for
from voltline_events.payloads.auth import ApiKeyRegistered
from websockets.exceptions import InvalidHandshake, InvalidStatus

pytestmark = pytest.mark.asyncio(loop_scope="module")

PASSWORD = "sixteen-chars-or-more"
BOOT = {"chargePointVendor": "ACME", "chargePointModel": "Volt-22"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder: Path = tmp_path_factory.mktemp("pki")
    ca, rogue = Authority(folder, "voltline"), Authority(folder, "rogue")
    return {
        "ca": ca,
        "server": ca.issue("localhost", server=True),
        "sp3": ca.issue("CP-SP3"),
        "pinned": ca.issue("CP-PIN"),
        "pinned_other": ca.issue("CP-PIN"),  # right CN, not the pinned certificate
        "other_cn": ca.issue("CP-OTHER"),
        "rogue_sp3": rogue.issue("CP-SP3"),
    }


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def system(kafka: Any, pki: dict[str, Any]) -> AsyncIterator[tuple[RunningGateway, FakeAuth]]:
    prefix = f"gws-{uuid.uuid4().hex[:6]}."
    server: Issued = pki["server"]
    async with running_gateway(
        kafka,
        prefix,
        tls_cert_file=server.cert,
        tls_key_file=server.key,
        tls_ca_file=pki["ca"].cert_path,
        gateway_unknown_stations="refuse",
    ) as gateway:
        auth = FakeAuth(kafka, prefix)
        await auth.start()
        await auth.register("CP-SP0", profile=0)
        await auth.register("CP-SP1", profile=1, password=PASSWORD)
        await auth.register("CP-SP2", profile=2, password=PASSWORD)
        await auth.register("CP-SP3", profile=3)
        await auth.register("CP-PIN", profile=3, fingerprint=pki["pinned"].fingerprint)
        registry = gateway.internals.registry
        await eventually(lambda: all(registry.get(s) for s in ("CP-SP0", "CP-SP1", "CP-SP2", "CP-SP3", "CP-PIN")))
        try:
            yield gateway, auth
        finally:
            await auth.stop()


async def boots(url: str, station_id: str, **kwargs: Any) -> str:
    async with charger(url, station_id, **kwargs) as cp:
        return str((await cp.call("BootNotification", BOOT))[2]["status"])


async def refused(url: str, station_id: str, **kwargs: Any) -> int:
    with pytest.raises((InvalidHandshake, ssl.SSLError, OSError)) as caught:
        async with charger(url, station_id, **kwargs):
            pass
    return caught.value.response.status_code if isinstance(caught.value, InvalidStatus) else 0


async def test_profile_0_needs_no_credentials(system: Any) -> None:
    gateway, _ = system
    assert await boots(gateway.ocpp_url, "CP-SP0") == "Accepted"


async def test_profile_1_basic_auth_over_ws(system: Any) -> None:
    gateway, _ = system
    assert await boots(gateway.ocpp_url, "CP-SP1", password=PASSWORD) == "Accepted"
    assert await boots(gateway.ocpp_url, "CP-SP1", password=PASSWORD) == "Accepted"  # again: from the cache
    assert await refused(gateway.ocpp_url, "CP-SP1", password="wrong-password-123456") == 401
    assert await refused(gateway.ocpp_url, "CP-SP1") == 401


async def test_profile_2_basic_auth_over_tls_only(system: Any, pki: dict[str, Any]) -> None:
    gateway, _ = system
    tls = pki["ca"].client_context()
    assert await boots(gateway.tls_url, "CP-SP2", password=PASSWORD, ssl_context=tls) == "Accepted"
    assert await refused(gateway.tls_url, "CP-SP2", password="wrong-password-123456", ssl_context=tls) == 401
    assert await refused(gateway.tls_url, "CP-SP2", ssl_context=tls) == 401
    assert await refused(gateway.ocpp_url, "CP-SP2", password=PASSWORD) == 403  # right password, no TLS


async def test_profile_3_client_certificate(system: Any, pki: dict[str, Any]) -> None:
    gateway, _ = system
    ca = pki["ca"]
    assert await boots(gateway.tls_url, "CP-SP3", ssl_context=ca.client_context(pki["sp3"])) == "Accepted"
    assert await refused(gateway.tls_url, "CP-SP3", ssl_context=ca.client_context()) == 401  # no certificate
    assert await refused(gateway.tls_url, "CP-SP3", ssl_context=ca.client_context(pki["other_cn"])) == 403
    # A certificate from another CA fails the TLS handshake itself.
    assert await refused(gateway.tls_url, "CP-SP3", ssl_context=ca.client_context(pki["rogue_sp3"])) == 0
    assert await refused(gateway.ocpp_url, "CP-SP3") == 403  # the plain port never serves profile 3


async def test_profile_3_pinned_fingerprint(system: Any, pki: dict[str, Any]) -> None:
    gateway, _ = system
    ca = pki["ca"]
    assert await boots(gateway.tls_url, "CP-PIN", ssl_context=ca.client_context(pki["pinned"])) == "Accepted"
    assert await refused(gateway.tls_url, "CP-PIN", ssl_context=ca.client_context(pki["pinned_other"])) == 403


async def test_unknown_stations_are_refused_with_404_by_this_policy(system: Any) -> None:
    gateway, _ = system
    assert await refused(gateway.ocpp_url, "CP-NOBODY") == 404


async def test_registry_changes_apply_to_the_next_connect(system: Any) -> None:
    gateway, auth = system
    registry = gateway.internals.registry
    await auth.register("CP-MOVE", profile=1, password=PASSWORD)
    await eventually(lambda: registry.get("CP-MOVE") is not None)
    assert await boots(gateway.ocpp_url, "CP-MOVE", password=PASSWORD) == "Accepted"
    old_hash = registry.get("CP-MOVE").password_hash
    await auth.register("CP-MOVE", profile=1, password="a-brand-new-password-42")
    await eventually(lambda: registry.get("CP-MOVE").password_hash != old_hash)
    assert await refused(gateway.ocpp_url, "CP-MOVE", password=PASSWORD) == 401  # the cache knows the old hash
    assert await boots(gateway.ocpp_url, "CP-MOVE", password="a-brand-new-password-42") == "Accepted"
    await auth.register("CP-MOVE", deleted=True)
    await eventually(lambda: registry.get("CP-MOVE") is None)
    assert await refused(gateway.ocpp_url, "CP-MOVE", password="a-brand-new-password-42") == 404


async def test_a_reconnecting_station_replaces_its_old_connection(system: Any) -> None:
    gateway, _ = system
    async with charger(gateway.ocpp_url, "CP-SP0") as first:
        await first.call("Heartbeat", {})
        async with charger(gateway.ocpp_url, "CP-SP0") as second:
            await first.socket.wait_closed()
            assert first.socket.close_reason == "replaced by a new connection"
            assert (await second.call("Heartbeat", {}))[0] == 3
            assert gateway.internals.connections.get("CP-SP0").socket is not None
            assert len([c for c in gateway.internals.connections.all() if c.station_id == "CP-SP0"]) == 1


async def test_passwords_never_reach_the_logs(
    system: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    gateway, _ = system
    secret = "wrong-but-secret-password-42"
    assert await refused(gateway.ocpp_url, "CP-SP1", password=secret) == 401
    assert await boots(gateway.ocpp_url, "CP-SP1", password=PASSWORD) == "Accepted"
    logged = capsys.readouterr().out + caplog.text
    assert "connection refused" in logged  # the refusal itself is logged...
    assert secret not in logged and PASSWORD not in logged  # ...but never a password


async def test_the_gateway_api_accepts_api_keys_auth_signed(system: Any) -> None:
    gateway, auth = system
    signed_key, forged_key = new_api_key(), new_api_key()
    signing = record_signing_key(TOKEN)
    now = datetime.now(UTC)
    signed = sign_record(ApiKeyRegistered(key_id="k-ok", name="ops", role="viewer", key_hash=hash_api_key(signed_key)),
                         signing, now)  # fmt: skip
    forged = ApiKeyRegistered(key_id="k-forged", name="x", role="admin", key_hash=hash_api_key(forged_key))
    for event in (forged, signed):
        envelope = envelope_for(event, source="auth/test")
        await auth.producer.publish(auth.topics.api_keys, envelope, key=event.key_id.encode())

    async def accepted() -> bool:
        answer = await gateway.api.get("/api/v1/connections", headers={"Authorization": f"Bearer {signed_key}"})
        return answer.status_code == 200

    await eventually(accepted)
    forged_answer = await gateway.api.get("/api/v1/connections", headers={"Authorization": f"Bearer {forged_key}"})
    assert forged_answer.status_code == 401

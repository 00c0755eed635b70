"""The wss:// listener speaks what OCPP requires: TLS 1.2 ECDHE-ECDSA and RSA AES-GCM suites from an ECDSA and
an RSA certificate, TLS 1.3; and a replaced certificate is used without a restart (issue 11, item 3)."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import ssl
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from gateway_testing import RunningGateway, eventually, running_gateway
from pki_testing import Authority

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tls(kafka: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[RunningGateway, dict]]:
    folder: Path = tmp_path_factory.mktemp("tls")
    ca = Authority(folder, "voltline")
    ecdsa, rsa = ca.issue("localhost", server=True), ca.issue("localhost", server=True, rsa_key=True)
    live = {"cert": folder / "live.pem", "key": folder / "live.key"}
    shutil.copy(ecdsa.cert, live["cert"])
    shutil.copy(ecdsa.key, live["key"])
    async with running_gateway(
        kafka,
        f"gwtls-{uuid.uuid4().hex[:6]}.",
        tls_cert_file=live["cert"],
        tls_key_file=live["key"],
        tls_second_cert_file=rsa.cert,
        tls_second_key_file=rsa.key,
        tls_reload_interval_s=0.2,
    ) as gateway:
        yield gateway, {"ca": ca, "ecdsa": ecdsa, "rsa": rsa, "live": live}


async def handshake(gateway: RunningGateway, ca: Authority, *, version: ssl.TLSVersion, ciphers: str | None = None):  # type: ignore[no-untyped-def]
    """(negotiated cipher, protocol, SHA-256 of the server certificate)."""
    context = ssl.create_default_context(cafile=str(ca.cert_path))
    context.minimum_version = context.maximum_version = version
    if ciphers is not None:
        context.set_ciphers(ciphers)
    port = gateway.internals.server.ports[1]
    _, writer = await asyncio.open_connection("localhost", port, ssl=context, server_hostname="localhost")
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True)
        return ssl_object.cipher()[0], ssl_object.version(), hashlib.sha256(der).hexdigest()
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("suite", "certificate"),
    [
        ("ECDHE-ECDSA-AES128-GCM-SHA256", "ecdsa"),
        ("ECDHE-ECDSA-AES256-GCM-SHA384", "ecdsa"),
        ("AES128-GCM-SHA256", "rsa"),  # TLS_RSA_WITH_AES_128_GCM_SHA256
        ("AES256-GCM-SHA384", "rsa"),  # TLS_RSA_WITH_AES_256_GCM_SHA384
    ],
)
async def test_tls12_suites_ocpp_requires(tls: Any, suite: str, certificate: str) -> None:
    gateway, pki = tls
    cipher, protocol, fingerprint = await handshake(gateway, pki["ca"], version=ssl.TLSVersion.TLSv1_2, ciphers=suite)
    assert (cipher, protocol) == (suite, "TLSv1.2")
    assert fingerprint == pki[certificate].fingerprint


async def test_tls13(tls: Any) -> None:
    gateway, pki = tls
    _, protocol, _ = await handshake(gateway, pki["ca"], version=ssl.TLSVersion.TLSv1_3)
    assert protocol == "TLSv1.3"


async def test_weak_suites_are_refused(tls: Any) -> None:
    gateway, pki = tls
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await handshake(gateway, pki["ca"], version=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-RSA-AES128-SHA")


async def test_a_replaced_certificate_is_used_without_a_restart(tls: Any) -> None:
    gateway, pki = tls
    renewed = pki["ca"].issue("localhost", server=True)
    shutil.copy(renewed.key, pki["live"]["key"])
    shutil.copy(renewed.cert, pki["live"]["cert"])

    async def serves_the_new_one() -> bool:
        suite = "ECDHE-ECDSA-AES128-GCM-SHA256"
        _, _, fingerprint = await handshake(gateway, pki["ca"], version=ssl.TLSVersion.TLSv1_2, ciphers=suite)
        return fingerprint == renewed.fingerprint

    await eventually(serves_the_new_one, within=10)
    reloader = gateway.internals.tls_reloader
    assert reloader is not None
    await eventually(lambda: reloader.reloads >= 1, within=10)


async def test_a_certificate_copied_before_its_key_leaves_the_served_pair_whole(tls: Any) -> None:
    """Loading a certificate drops its slot's key until the new key is in: a check between the two copies left
    the live context with a certificate and no key (every ECDSA handshake failed until the key arrived)."""
    gateway, pki = tls
    suite = "ECDHE-ECDSA-AES128-GCM-SHA256"
    _, _, served = await handshake(gateway, pki["ca"], version=ssl.TLSVersion.TLSv1_2, ciphers=suite)
    reloader = gateway.internals.tls_reloader
    assert reloader is not None
    renewed = pki["ca"].issue("localhost", server=True)
    shutil.copy(renewed.cert, pki["live"]["cert"])  # the key comes a moment later
    assert reloader.check() is False  # the new certificate does not go with the old key: nothing loaded
    assert (await handshake(gateway, pki["ca"], version=ssl.TLSVersion.TLSv1_2, ciphers=suite))[2] == served
    shutil.copy(renewed.key, pki["live"]["key"])

    async def serves_the_new_one() -> bool:
        _, _, fingerprint = await handshake(gateway, pki["ca"], version=ssl.TLSVersion.TLSv1_2, ciphers=suite)
        return fingerprint == renewed.fingerprint

    await eventually(serves_the_new_one, within=10)

"""The TLS context of the wss:// listener (security profiles 2 and 3).

OCPP 2.0.1 (A00.FR.318) and the 1.6 security whitepaper: TLS 1.2 with TLS_ECDHE_ECDSA_WITH_AES_128/256_GCM
and TLS_RSA_WITH_AES_128/256_GCM, from an ECDSA and an RSA server certificate; TLS 1.3 as well (its suites
are OpenSSL's defaults). ECDHE_RSA with AES-GCM is offered too, so an RSA-only station still gets forward
secrecy when it can. Client certificates are checked against a CA (profile 3).

Certificates are replaceable without a restart: :class:`CertificateReloader` watches the files and loads
new ones into the same context, which every later handshake uses; connected stations keep their session.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger()

TLS12_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",  # TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        "ECDHE-ECDSA-AES256-GCM-SHA384",  # TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "AES128-GCM-SHA256",  # TLS_RSA_WITH_AES_128_GCM_SHA256
        "AES256-GCM-SHA384",  # TLS_RSA_WITH_AES_256_GCM_SHA384
    )
)


@dataclass(frozen=True)
class CertificatePair:
    cert_file: Path
    key_file: Path


def server_context(
    cert_file: Path, key_file: Path, ca_file: Path | None, *, extra: list[CertificatePair] | None = None
) -> ssl.SSLContext:
    """`extra`: more server certificates of other key types (an RSA one beside an ECDSA one)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    for pair in [CertificatePair(cert_file, key_file), *(extra or [])]:
        context.load_cert_chain(pair.cert_file, pair.key_file)
    if ca_file is not None:
        context.load_verify_locations(ca_file)
        # Optional: profile 2 stations show no certificate; a certificate shown must chain to the CA, and
        # which stations need one (profile 3) is decided per station at the upgrade.
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


class CertificateReloader:
    """Loads changed certificate, key and CA files into the live context, checking every `interval` s.

    A pair that fails to load (half-written, key not matching) is logged and the old one stays in use; the
    next check tries again. A new CA is added to the trusted ones (the old one stays trusted until restart).
    """

    def __init__(
        self, context: ssl.SSLContext, pairs: list[CertificatePair], ca_file: Path | None, *, interval: float
    ) -> None:
        self._context = context
        self._pairs = pairs
        self._ca_file = ca_file
        self._interval = interval
        self._seen = self._stamps()
        self._task: asyncio.Task[None] | None = None
        self.reloads = 0

    def _stamps(self) -> dict[Path, tuple[int, int]]:
        files = [f for p in self._pairs for f in (p.cert_file, p.key_file)] + ([self._ca_file] if self._ca_file else [])
        stamps: dict[Path, tuple[int, int]] = {}
        for path in files:
            with contextlib.suppress(OSError):
                info = path.stat()
                stamps[path] = (info.st_mtime_ns, info.st_size)
        return stamps

    def check(self) -> bool:
        """Reload what changed; True when something was loaded."""
        now = self._stamps()
        if now == self._seen:
            return False
        try:
            for pair in self._pairs:
                self._context.load_cert_chain(pair.cert_file, pair.key_file)
            if self._ca_file is not None and now.get(self._ca_file) != self._seen.get(self._ca_file):
                self._context.load_verify_locations(self._ca_file)
        except (OSError, ssl.SSLError, ValueError) as exc:
            log.error("new TLS certificate not loaded; the old one stays in use", error=str(exc)[:300])
            return False
        self._seen = now
        self.reloads += 1
        log.info("TLS certificates reloaded", files=[str(p.cert_file) for p in self._pairs])
        return True

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="tls-reloader")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await asyncio.to_thread(self.check)

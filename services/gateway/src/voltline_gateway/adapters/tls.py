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
import shutil
import ssl
import tempfile
from dataclasses import dataclass, field
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

    The files are copied once and the copy is loaded into a scratch context first (in a worker thread), so a
    pair that does not load never touches the live context. The live context takes the same copy on the event
    loop's thread: loading a certificate drops the slot's old key until the new key is in, and a handshake
    accepted in that moment (the loop runs while a thread loads) found a certificate without its key and reset
    the connection.
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
        """Reload what changed; True when something was loaded. On the thread that serves the context."""
        staged = self.stage()
        if staged is None:
            return False
        try:
            return self.apply(staged)
        finally:
            staged.discard()

    def stage(self) -> _Staged | None:
        """A checked copy of the changed files, or None (nothing changed, or the new files do not load).

        Blocking file work: the watcher runs it in a worker thread."""
        now = self._stamps()
        if now == self._seen:
            return None
        staged = _Staged(now, Path(tempfile.mkdtemp(prefix="voltline-tls-")))
        try:
            staged.pairs = [
                CertificatePair(staged.copy(pair.cert_file, f"{n}.crt"), staged.copy(pair.key_file, f"{n}.key"))
                for n, pair in enumerate(self._pairs)
            ]
            if self._ca_file is not None and now.get(self._ca_file) != self._seen.get(self._ca_file):
                staged.ca_file = staged.copy(self._ca_file, "ca.pem")
            scratch = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            for pair in staged.pairs:
                scratch.load_cert_chain(pair.cert_file, pair.key_file)
            if staged.ca_file is not None:
                scratch.load_verify_locations(staged.ca_file)
        except (OSError, ssl.SSLError, ValueError) as exc:
            staged.discard()
            log.error("new TLS certificate not loaded; the old one stays in use", error=str(exc)[:300])
            return None
        return staged

    def apply(self, staged: _Staged) -> bool:
        """Load a checked copy into the live context (on the event loop's thread: no handshake meanwhile)."""
        try:
            for pair in staged.pairs:
                self._context.load_cert_chain(pair.cert_file, pair.key_file)
            if staged.ca_file is not None:
                self._context.load_verify_locations(staged.ca_file)
        except (OSError, ssl.SSLError, ValueError) as exc:  # the copy loaded a moment ago: not expected
            log.error("checked TLS certificate not loaded; the next check tries again", error=str(exc)[:300])
            return False
        self._seen = staged.stamps
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
            staged = await asyncio.to_thread(self.stage)
            if staged is not None:
                try:
                    self.apply(staged)
                finally:
                    await asyncio.to_thread(staged.discard)


@dataclass
class _Staged:
    """A private copy of the files of one reload (what was checked is what is loaded)."""

    stamps: dict[Path, tuple[int, int]]
    folder: Path
    pairs: list[CertificatePair] = field(default_factory=list)
    ca_file: Path | None = None

    def copy(self, source: Path, name: str) -> Path:
        target = self.folder / name
        target.write_bytes(source.read_bytes())
        return target

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

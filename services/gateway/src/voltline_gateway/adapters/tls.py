"""The TLS context of the wss:// listener: TLS 1.2+, and client certificates checked against a CA (profile 3)."""

from __future__ import annotations

import ssl
from pathlib import Path


def server_context(cert_file: Path, key_file: Path, ca_file: Path | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    if ca_file is not None:
        context.load_verify_locations(ca_file)
        # Optional: profile 2 stations show no certificate; a certificate shown must chain to the CA, and
        # which stations need one (profile 3) is decided per station at the upgrade.
        context.verify_mode = ssl.CERT_OPTIONAL
    return context

"""Verifiers of station Basic-auth passwords: a salted HMAC-SHA256, fast on purpose.

Station passwords are long random secrets (OCPP: 16-40 characters; voltline generates 160-bit ones), not
human passwords: guessing one offline from its verifier is as hopeless as guessing the secret itself, so a
deliberately slow hash (bcrypt: ~0.3 s) buys nothing but a reconnect storm that takes minutes and a lock-out
by whoever sends wrong passwords. A salted HMAC costs about a microsecond.

Format: ``hmac-sha256$<salt, 32 hex>$<HMAC-SHA256(key=salt, password), 64 hex>``. Older registries hold
bcrypt hashes (``$2b$...``); :func:`check` answers None for them so the caller can take the slow path (see
docs/security.md, "Migrating bcrypt station passwords").
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SCHEME = "hmac-sha256"


def make_verifier(password: str) -> str:
    salt = secrets.token_hex(16)
    return f"{SCHEME}${salt}${_mac(salt, password)}"


def is_fast(verifier: str) -> bool:
    return verifier.startswith(SCHEME + "$")


def is_legacy(verifier: str) -> bool:
    """A bcrypt hash from before the fast verifier."""
    return verifier.startswith("$2")


def check(password: str, verifier: str) -> bool | None:
    """True/False for a fast verifier (constant time); None when it is not one (bcrypt: the caller decides)."""
    if not is_fast(verifier):
        return None
    parts = verifier.split("$")
    if len(parts) != 3:
        return False
    return hmac.compare_digest(_mac(parts[1], password), parts[2])


def _mac(salt: str, password: str) -> str:
    return hmac.new(salt.encode(), password.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

"""Station passwords are kept only as verifiers: a salted HMAC-SHA256 (voltline_chassis.station_secrets).

Station passwords are long random secrets, not people's passwords, so a fast verifier is safe and lets a
gateway check thousands of reconnecting stations a second. Verifiers written before it are bcrypt hashes;
they keep working (the gateway checks them slowly) until the password is next set or rotated.
"""

from __future__ import annotations

import secrets

from voltline_chassis.station_secrets import make_verifier


def hash_password(password: str) -> str:
    return make_verifier(password)


def generate_password() -> str:
    """40 hex characters (160 bits): fits OCPP's 16-40 character BasicAuthPassword and 1.6's AuthorizationKey."""
    return secrets.token_hex(20)

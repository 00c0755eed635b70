"""Station passwords are kept only as slow salted bcrypt hashes."""

from __future__ import annotations

import asyncio
import secrets

import bcrypt


async def hash_password(password: str) -> str:
    """bcrypt is deliberately slow, so it runs off the event loop."""
    return await asyncio.to_thread(lambda: bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=12)).decode())


async def verify_password(password: str, password_hash: str) -> bool:
    return await asyncio.to_thread(bcrypt.checkpw, password.encode(), password_hash.encode())


def generate_password() -> str:
    """40 hex characters (160 bits): fits OCPP's 16-40 character BasicAuthPassword and 1.6's AuthorizationKey."""
    return secrets.token_hex(20)

"""Drivers' passwords as argon2id hashes (memory-hard; service_layer.account_ports.PasswordHasher).

Station passwords keep their fast verifier (they are random, long, and checked thousands of times a second);
people's passwords are short and guessable, so they get a hash that is expensive to try on a GPU.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Argon2Hasher:
    def __init__(self, time_cost: int = 2, memory_kib: int = 19 * 1024, parallelism: int = 1) -> None:
        # OWASP's minimum for argon2id: 19 MiB, 2 iterations, 1 lane (~30 ms here).
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)

    async def hash(self, password: str) -> str:
        # In a thread: ~30-50 ms of CPU that releases the GIL, which would otherwise stall every request.
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

"""Argon2id password hashing (RFC 9106) off the event loop, with rehash-on-login support."""

from __future__ import annotations

import asyncio
import secrets

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["Argon2PasswordHasher"]


class Argon2PasswordHasher:
    """Adapter of the ``PasswordHasher`` port over argon2-cffi.

    Hashing and verification take tens of milliseconds of CPU by design; they run in worker
    threads (argon2-cffi releases the GIL) so the event loop keeps serving other requests.
    Parameters default to argon2-cffi's, RFC 9106's low-memory profile (t=3, m=64 MiB, p=4);
    ``needs_rehash`` reports hashes made with other parameters so login can upgrade them.
    """

    def __init__(self, parameters: argon2.Parameters | None = None) -> None:
        if parameters is None:
            self._hasher = argon2.PasswordHasher()
        else:
            self._hasher = argon2.PasswordHasher.from_parameters(parameters)
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def verify_dummy(self, password: str) -> None:
        if self._dummy_hash is None:
            # Made lazily with the same parameters, so it costs what a real verification costs.
            self._dummy_hash = await self.hash(secrets.token_urlsafe(24))
        await self.verify(self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

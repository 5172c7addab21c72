"""Cheap argon2id parameters for tests that are not about password hashing."""

from __future__ import annotations

import argon2

__all__ = ["CHEAP_ARGON2"]

# Each default argon2id hash costs ~0.3 s of CPU; the HTTP tests use cheap parameters (the
# defaults are exercised by test_identity_auth_http.py::TestDefaultHashing).
CHEAP_ARGON2 = argon2.Parameters(
    type=argon2.Type.ID,
    version=19,
    salt_len=16,
    hash_len=16,
    time_cost=1,
    memory_cost=64,
    parallelism=1,
)

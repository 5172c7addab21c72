"""Adapters of the identity ports: SQL tables and repositories, argon2, JWT, in-memory fakes."""

from __future__ import annotations

from bazaar.contexts.identity.adapters.audit import AuditLogListener
from bazaar.contexts.identity.adapters.memory import (
    InMemoryIdentityReadModel,
    InMemoryIdentityStore,
    InMemoryIdentityUnitOfWork,
)
from bazaar.contexts.identity.adapters.passwords import Argon2PasswordHasher
from bazaar.contexts.identity.adapters.read_model import SqlIdentityReadModel
from bazaar.contexts.identity.adapters.repository import SqlIdentityUnitOfWork
from bazaar.contexts.identity.adapters.tables import metadata
from bazaar.contexts.identity.adapters.tokens import JwtTokenCodec

__all__ = [
    "Argon2PasswordHasher",
    "AuditLogListener",
    "InMemoryIdentityReadModel",
    "InMemoryIdentityStore",
    "InMemoryIdentityUnitOfWork",
    "JwtTokenCodec",
    "SqlIdentityReadModel",
    "SqlIdentityUnitOfWork",
    "metadata",
]

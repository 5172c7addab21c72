"""Adapters of the payments ports: SQL tables and repositories, the PSP client, in-memory fakes."""

from __future__ import annotations

from bazaar.contexts.payments.adapters.fake_provider import (
    Fail,
    FakePaymentProvider,
    InFlight,
    LoseAnswer,
    ProviderCall,
)
from bazaar.contexts.payments.adapters.memory import (
    InMemoryPaymentsReadModel,
    InMemoryPaymentsStore,
    InMemoryPaymentsUnitOfWork,
)
from bazaar.contexts.payments.adapters.psp_client import HttpPspClient
from bazaar.contexts.payments.adapters.read_model import SqlPaymentsReadModel
from bazaar.contexts.payments.adapters.repository import SqlPaymentsUnitOfWork
from bazaar.contexts.payments.adapters.tables import metadata

__all__ = [
    "Fail",
    "FakePaymentProvider",
    "HttpPspClient",
    "InFlight",
    "InMemoryPaymentsReadModel",
    "InMemoryPaymentsStore",
    "InMemoryPaymentsUnitOfWork",
    "LoseAnswer",
    "ProviderCall",
    "SqlPaymentsReadModel",
    "SqlPaymentsUnitOfWork",
    "metadata",
]

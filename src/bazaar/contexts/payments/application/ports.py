"""Ports the payments application needs: the card processor (``PaymentProvider``), ids."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bazaar.contexts.payments.domain.errors import ProviderRefusalError
from bazaar.contexts.payments.domain.events import PaymentsEvent
from bazaar.kernel.money import Money

__all__ = [
    "AuthorizationLookup",
    "AuthorizationRequest",
    "EventListener",
    "IdGenerator",
    "PaymentProvider",
    "ProviderAuthorization",
    "ProviderAuthorizationStatus",
    "ProviderKeyState",
    "ProviderRefund",
    "RefundLookup",
]

EventListener = Callable[[PaymentsEvent], None]


class IdGenerator(Protocol):
    def next_id(self) -> int: ...


class ProviderAuthorizationStatus(enum.StrEnum):
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    DECLINED = "declined"
    VOIDED = "voided"


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """What the PSP is asked to authorize (and capture at once when ``capture``)."""

    amount: Money
    card_token: str = field(repr=False)
    reference: str | None = None
    capture: bool = True


@dataclass(frozen=True, slots=True)
class ProviderAuthorization:
    id: str
    status: ProviderAuthorizationStatus
    amount: Money
    decline_code: str | None
    captured_at: datetime | None


@dataclass(frozen=True, slots=True)
class ProviderRefund:
    id: str
    authorization_id: str
    amount: Money


class ProviderKeyState(enum.Enum):
    """What the PSP knows of one of our idempotency keys."""

    UNUSED = "unused"  # nothing took effect: a retry with the same key is safe
    IN_FLIGHT = "in_flight"  # still being processed: the outcome is not known yet
    COMPLETED = "completed"  # it answered; the answer is attached


@dataclass(frozen=True, slots=True)
class AuthorizationLookup:
    state: ProviderKeyState
    authorization: ProviderAuthorization | None = None
    refusal: ProviderRefusalError | None = None


@dataclass(frozen=True, slots=True)
class RefundLookup:
    state: ProviderKeyState
    refund: ProviderRefund | None = None
    refusal: ProviderRefusalError | None = None


class PaymentProvider(Protocol):
    """A card processor, one attempt per call (the caller's guard adds timeouts and retries).

    Every call takes the timeout of its attempt. Infrastructure failures (5xx, the key still
    in flight, connection errors, timeouts) raise ``PspUnavailableError``; the processor's
    refusals raise ``ProviderRefusalError`` subclasses. A declined card is not an error: it is
    an authorization with status ``declined``.
    """

    async def authorize(
        self, request: AuthorizationRequest, *, idempotency_key: str, timeout_s: float
    ) -> ProviderAuthorization: ...

    async def capture(
        self, authorization_id: str, *, idempotency_key: str, timeout_s: float
    ) -> ProviderAuthorization:
        """Capture all of an authorized amount; the answer is the authorization, captured."""
        ...

    async def void(
        self, authorization_id: str, *, idempotency_key: str, timeout_s: float
    ) -> ProviderAuthorization:
        """Release an authorization; voiding a voided one answers it unchanged."""
        ...

    async def refund(
        self, authorization_id: str, amount: Money, *, idempotency_key: str, timeout_s: float
    ) -> ProviderRefund: ...

    async def find_authorization(
        self, idempotency_key: str, *, timeout_s: float
    ) -> AuthorizationLookup:
        """What became of an ``authorize``, ``capture`` or ``void`` sent with
        ``idempotency_key`` (each answers with the authorization)."""
        ...

    async def find_refund(self, idempotency_key: str, *, timeout_s: float) -> RefundLookup:
        """What became of a ``refund`` sent with ``idempotency_key``."""
        ...

    async def aclose(self) -> None: ...

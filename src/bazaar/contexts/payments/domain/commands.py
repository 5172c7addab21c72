"""Commands of the payments context: what a caller asks it to do (imperative, frozen)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bazaar.kernel.money import Money

__all__ = [
    "AuthorizeOrderPayment",
    "Command",
    "CreatePayment",
    "RecordPspEvent",
    "RefundPayment",
    "Viewer",
]


def _command_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who reads payments: a customer sees their own, ``whole_tenant`` sees the tenant's."""

    tenant_id: int
    user_id: int
    whole_tenant: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """Base of every command; ``id`` correlates one request across logs."""

    type: ClassVar[str]
    version: ClassVar[int] = 1
    id: str = field(default_factory=_command_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class CreatePayment(Command):
    type: ClassVar[str] = "payments.create_payment"
    tenant_id: int
    user_id: int
    amount: Money
    card_token: str = field(repr=False)
    description: str | None = None


@dataclass(frozen=True, slots=True)
class AuthorizeOrderPayment(Command):
    """Authorize (not capture) ``amount`` on the card for an order: a checkout saga's step.

    ``operation_key`` names the step (``f"order:{order_id}:authorize"``) and stays the same
    on every retry and after a crash: the PSP key is derived from it and the tenant, so a
    re-run finds the payment (or the PSP's authorization) of the first run.
    """

    type: ClassVar[str] = "payments.authorize_order_payment"
    tenant_id: int
    user_id: int
    order_id: int
    amount: Money
    card_token: str = field(repr=False)
    operation_key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundPayment(Command):
    """Refund ``amount`` of a payment of the tenant, everything left when None."""

    type: ClassVar[str] = "payments.refund_payment"
    tenant_id: int
    user_id: int
    payment_id: int
    amount: Money | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordPspEvent(Command):
    """A verified webhook event of the PSP (``data`` is the object it is about)."""

    type: ClassVar[str] = "payments.record_psp_event"
    event_id: str
    event_type: str
    data: dict[str, Any]
    payload: bytes = field(repr=False)

"""The notification templates: plain functions from typed facts to a subject and a body.

Each template has a stable ``name``: it is part of the Message-ID (``message_id_for``), so
renaming a template makes already-sent notifications look new to receivers. Templates do no
I/O and read no clock; what they show comes from their arguments only.
"""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.kernel.money import Money

__all__ = [
    "ORDER_CONFIRMED",
    "PAYMENT_RECEIVED",
    "Rendered",
    "order_confirmed",
    "payment_received",
]

PAYMENT_RECEIVED = "payment_received"
ORDER_CONFIRMED = "order_confirmed"

_SIGNATURE = "\n\n-- \nbazaar\n"


@dataclass(frozen=True, slots=True)
class Rendered:
    """What a template produced: its name (for the Message-ID), a subject and a text body."""

    template: str
    subject: str
    body_text: str


def payment_received(*, payment_id: int, amount: Money) -> Rendered:
    """A customer's payment succeeded."""
    body = f"Hello,\n\nwe received your payment of {amount} (payment {payment_id}).\nThank you!"
    return Rendered(PAYMENT_RECEIVED, "Payment received", body + _SIGNATURE)


def order_confirmed(*, order_id: str, total: Money) -> Rendered:
    """A customer's order went through checkout and is confirmed."""
    body = (
        "Hello,\n\n"
        f"your order {order_id} is confirmed.\n"
        f"Total: {total}\n\n"
        "We will let you know when it ships."
    )
    return Rendered(ORDER_CONFIRMED, "Order confirmed", body + _SIGNATURE)

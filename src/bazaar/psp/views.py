"""The JSON shapes the simulator answers with and puts in webhook events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bazaar.kernel.clock import utc_from_timestamp
from bazaar.psp.model import Authorization, Refund, format_amount

__all__ = ["authorization_view", "iso_timestamp", "refund_view"]


def iso_timestamp(ts: float | None) -> str | None:
    """Epoch seconds → ``2023-11-14T22:13:20.000Z`` (None stays None)."""
    if ts is None:
        return None
    return utc_from_timestamp(ts).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def refund_view(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "object": "refund",
        "authorization_id": refund.authorization_id,
        "status": refund.status.value,
        "amount": format_amount(refund.amount_minor),
        "currency": refund.currency,
        "created_at": iso_timestamp(refund.created_at),
    }


def authorization_view(auth: Authorization, refunds: Sequence[Refund] = ()) -> dict[str, Any]:
    return {
        "id": auth.id,
        "object": "authorization",
        "status": auth.status.value,
        "amount": format_amount(auth.amount_minor),
        "currency": auth.currency,
        "card_token": auth.card_token,
        "reference": auth.reference,
        "decline_code": auth.decline_code.value if auth.decline_code else None,
        "captured_amount": format_amount(auth.captured_minor),
        "refunded_amount": format_amount(auth.refunded_minor),
        "refunds": [refund_view(r) for r in refunds],
        "created_at": iso_timestamp(auth.created_at),
        "captured_at": iso_timestamp(auth.captured_at),
        "voided_at": iso_timestamp(auth.voided_at),
    }

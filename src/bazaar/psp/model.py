"""The simulator's card-processing model: test card tokens, amounts, authorizations, refunds.

An authorization moves through these states (each arrow is one API call)::

    (authorize) ──approve──► authorized ──capture──► captured ──refund*──► captured
         │                       │                   (refunded total grows up to captured)
         └──decline──► declined  └──void──► voided

Rules are pure functions over these values; ``store.py`` applies them in SQL transactions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from bazaar.psp.errors import (
    CaptureExceedsAuthorizedError,
    InvalidStateError,
    RefundExceedsCapturedError,
)

__all__ = [
    "CARD_RULES",
    "MAX_AMOUNT_MINOR",
    "Authorization",
    "AuthorizationStatus",
    "CardRule",
    "DeclineCode",
    "Refund",
    "RefundStatus",
    "capture_amount",
    "format_amount",
    "parse_amount",
    "refund_amount",
    "void_needed",
]


class AuthorizationStatus(StrEnum):
    AUTHORIZED = "authorized"
    DECLINED = "declined"
    CAPTURED = "captured"
    VOIDED = "voided"


class RefundStatus(StrEnum):
    SUCCEEDED = "succeeded"


class DeclineCode(StrEnum):
    CARD_DECLINED = "card_declined"
    INSUFFICIENT_FUNDS = "insufficient_funds"


@dataclass(frozen=True, slots=True)
class CardRule:
    """What a test card token does when authorized.

    Attributes:
        decline_code: declines with this code; None approves.
        slow: answers after ``PspConfig.slow_token_delay_s``.
        flaky: answers 503 with probability ``PspConfig.flaky_error_rate``, creating nothing.
    """

    decline_code: DeclineCode | None = None
    slow: bool = False
    flaky: bool = False


# The tokens of api.md ("Orders": PSP test card tokens) plus tok_insufficient.
CARD_RULES: Mapping[str, CardRule] = MappingProxyType(
    {
        "tok_ok": CardRule(),
        "tok_declined": CardRule(decline_code=DeclineCode.CARD_DECLINED),
        "tok_insufficient": CardRule(decline_code=DeclineCode.INSUFFICIENT_FUNDS),
        "tok_slow": CardRule(slow=True),
        "tok_flaky": CardRule(flaky=True),
    }
)

# Amounts are decimal strings with at most two decimals, kept as integer minor units so no
# float ever touches money. 10**12 minor units is far above any test payment.
MAX_AMOUNT_MINOR = 10**12
_AMOUNT = re.compile(r"(0|[1-9][0-9]{0,11})(?:\.([0-9]{1,2}))?")


def parse_amount(text: str) -> int:
    """``"19.99"`` → ``1999``.

    Raises:
        ValueError: not a positive decimal string with at most two decimals.
    """
    match = _AMOUNT.fullmatch(text)
    if match is None:
        raise ValueError('must be a decimal string with at most 2 decimals, such as "19.99"')
    whole, fraction = match.groups()
    minor = int(whole) * 100 + int((fraction or "").ljust(2, "0"))
    if not 0 < minor <= MAX_AMOUNT_MINOR:
        raise ValueError(f"must be greater than 0 and at most {format_amount(MAX_AMOUNT_MINOR)}")
    return minor


def format_amount(minor: int) -> str:
    """``1999`` → ``"19.99"``."""
    return f"{minor // 100}.{minor % 100:02d}"


@dataclass(frozen=True, slots=True)
class Authorization:
    """A card authorization and what was captured and refunded on it (amounts in minor units)."""

    id: str
    status: AuthorizationStatus
    amount_minor: int
    currency: str
    card_token: str
    reference: str | None
    decline_code: DeclineCode | None
    captured_minor: int
    refunded_minor: int
    created_at: float
    captured_at: float | None = None
    voided_at: float | None = None

    @property
    def refundable_minor(self) -> int:
        return self.captured_minor - self.refunded_minor


@dataclass(frozen=True, slots=True)
class Refund:
    id: str
    authorization_id: str
    amount_minor: int
    currency: str
    status: RefundStatus
    created_at: float


def capture_amount(auth: Authorization, requested_minor: int | None) -> int:
    """How much a capture takes: all of it by default, or a part (one capture only).

    Raises:
        InvalidStateError: the authorization is not ``authorized``.
        CaptureExceedsAuthorizedError: more than authorized was asked for.
    """
    if auth.status is not AuthorizationStatus.AUTHORIZED:
        raise InvalidStateError(auth.id, auth.status, "capture")
    amount = auth.amount_minor if requested_minor is None else requested_minor
    if amount > auth.amount_minor:
        raise CaptureExceedsAuthorizedError(auth.id, amount, auth.amount_minor)
    return amount


def void_needed(auth: Authorization) -> bool:
    """Whether a void changes anything: False for an already voided authorization.

    Raises:
        InvalidStateError: captured (refund instead) or declined (nothing to release).
    """
    if auth.status is AuthorizationStatus.VOIDED:
        return False
    if auth.status is not AuthorizationStatus.AUTHORIZED:
        raise InvalidStateError(auth.id, auth.status, "void")
    return True


def refund_amount(auth: Authorization, requested_minor: int | None) -> int:
    """How much a refund returns: what is left by default, never past the captured total.

    Raises:
        InvalidStateError: the authorization was never captured.
        RefundExceedsCapturedError: the refund (or the default, when nothing is left)
            would take the refunded total past the captured total.
    """
    if auth.status is not AuthorizationStatus.CAPTURED:
        raise InvalidStateError(auth.id, auth.status, "refund")
    amount = auth.refundable_minor if requested_minor is None else requested_minor
    if amount <= 0 or amount > auth.refundable_minor:
        raise RefundExceedsCapturedError(auth.id, amount, auth.refundable_minor)
    return amount

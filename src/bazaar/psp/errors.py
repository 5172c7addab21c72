"""Errors of the PSP simulator and of its webhook signature check.

    BazaarError                         (bazaar.kernel.errors)
    └── PspError
        ├── SignatureError              a webhook's Psp-Signature header was rejected
        └── PspRuleError                a request broke a card-processing rule (a 4xx answer)
            ├── AuthorizationNotFoundError      no authorization has that id
            ├── InvalidStateError               the operation is not allowed in this status
            ├── CaptureExceedsAuthorizedError   capture above the authorized amount
            └── RefundExceedsCapturedError      refunds would pass the captured total

Errors carry fields, not only messages, so the HTTP layer maps them without parsing text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bazaar.kernel.errors import BazaarError
from bazaar.kernel.signing import SignatureFailure

if TYPE_CHECKING:
    from bazaar.psp.model import AuthorizationStatus

__all__ = [
    "AuthorizationNotFoundError",
    "CaptureExceedsAuthorizedError",
    "InvalidStateError",
    "PspError",
    "PspRuleError",
    "RefundExceedsCapturedError",
    "SignatureError",
    "SignatureFailure",
]


class PspError(BazaarError):
    """Raised by the PSP simulator or its signing helpers."""


class SignatureError(PspError):
    """A webhook's signature or timestamp did not verify."""

    def __init__(self, reason: SignatureFailure, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


class PspRuleError(PspError):
    """A request the simulator understood but refuses by its card-processing rules."""

    code: str = "invalid_request"
    authorization_id: str


class AuthorizationNotFoundError(PspRuleError):
    code = "authorization_not_found"

    def __init__(self, authorization_id: str) -> None:
        super().__init__(f"no authorization {authorization_id!r}")
        self.authorization_id = authorization_id


class InvalidStateError(PspRuleError):
    """The authorization's status does not allow the operation (e.g. void after capture)."""

    def __init__(self, authorization_id: str, status: AuthorizationStatus, operation: str) -> None:
        super().__init__(
            f"cannot {operation} authorization {authorization_id!r}: it is {status.value}"
        )
        self.authorization_id = authorization_id
        self.status = status
        self.operation = operation
        self.code = "already_captured" if status.value == "captured" else "invalid_state"


class CaptureExceedsAuthorizedError(PspRuleError):
    code = "capture_exceeds_authorized"

    def __init__(self, authorization_id: str, requested_minor: int, authorized_minor: int) -> None:
        super().__init__(
            f"capture of {_money(requested_minor)} exceeds the {_money(authorized_minor)} "
            f"authorized on {authorization_id!r}"
        )
        self.authorization_id = authorization_id
        self.requested_minor = requested_minor
        self.authorized_minor = authorized_minor


class RefundExceedsCapturedError(PspRuleError):
    code = "refund_exceeds_captured"

    def __init__(self, authorization_id: str, requested_minor: int, refundable_minor: int) -> None:
        super().__init__(
            f"refund of {_money(requested_minor)} exceeds the {_money(refundable_minor)} "
            f"still refundable on {authorization_id!r}"
        )
        self.authorization_id = authorization_id
        self.requested_minor = requested_minor
        self.refundable_minor = refundable_minor


def _money(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"

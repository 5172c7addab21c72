"""Errors of the notifications context.

BazaarError
└── NotificationsError
    ├── InvalidEmailError(field, reason)              an e-mail that cannot be sent as built
    └── MailRejectedError(recipient, code, message)   the SMTP server refused it for good (5xx)

KernelError → DependencyFailureError                  (bazaar.kernel.resilience)
└── MailUnavailableError(reason, retry_after_s)       raised by mail adapters: connection
                                                      errors, 4xx replies, timeouts

``MailRejectedError`` is the server's *answer* about one message (an unknown mailbox): the
guard lets it through, its breaker counts a success, and retrying cannot help.
``MailUnavailableError`` is the server failing: sending again is safe, because every attempt
carries the same Message-ID and receivers drop a Message-ID they already have.
"""

from __future__ import annotations

from bazaar.kernel.errors import BazaarError
from bazaar.kernel.resilience import DependencyFailureError

__all__ = [
    "SMTP_DEPENDENCY",
    "InvalidEmailError",
    "MailRejectedError",
    "MailUnavailableError",
    "NotificationsError",
]

# The name of the outbound mail dependency: its guard, breaker, metrics label and faults.
SMTP_DEPENDENCY = "smtp"


class NotificationsError(BazaarError):
    """Raised by the notifications context on purpose."""


class InvalidEmailError(NotificationsError):
    """A field of an e-mail cannot go on the wire (a line break in a header, no address)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class MailRejectedError(NotificationsError):
    """The SMTP server refused this message permanently (a 5xx reply to RCPT or DATA)."""

    def __init__(self, recipient: str, code: int, message: str) -> None:
        super().__init__(f"{recipient}: {code} {message}".strip())
        self.recipient = recipient
        self.code = code
        self.message = message


class MailUnavailableError(DependencyFailureError):
    """The SMTP server could not take the message now; sending it again is safe."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(SMTP_DEPENDENCY, reason, retry_after_s)

"""Errors of the messaging block.

KernelError
└── MessagingError
    ├── MalformedMessageError   bytes that are not an envelope (a poison message)
    ├── UnknownMessageTypeError no handler or upcaster knows the type/version
    └── BrokerError             the broker could not be reached or refused an operation
"""

from __future__ import annotations

from bazaar.kernel.errors import KernelError

__all__ = [
    "BrokerError",
    "MalformedMessageError",
    "MessagingError",
    "UnknownMessageTypeError",
]


class MessagingError(KernelError):
    """An error raised by the messaging block."""


class MalformedMessageError(MessagingError):
    """The bytes of a delivery do not decode to a valid envelope; retrying cannot help."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"malformed message: {reason}")
        self.reason = reason


class UnknownMessageTypeError(MessagingError):
    """No handler accepts this type, or no upcaster reaches the handler's version."""

    def __init__(self, message_type: str, version: int) -> None:
        super().__init__(f"unknown message type {message_type!r} version {version}")
        self.message_type = message_type
        self.version = version


class BrokerError(MessagingError):
    """The broker failed (connection lost, command refused); the operation may be retried."""

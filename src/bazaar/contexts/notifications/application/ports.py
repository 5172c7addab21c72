"""Ports of the notifications context: where e-mails go and where addresses come from."""

from __future__ import annotations

from typing import Protocol

from bazaar.contexts.notifications.domain.model import Email

__all__ = ["MailSender", "RecipientDirectory"]


class MailSender(Protocol):
    """Hands one e-mail to a mail server (one attempt; the guard decides about more).

    Adapters: ``adapters.smtp_sender.SmtpMailSender`` (SMTP) and
    ``adapters.memory.RecordingMailSender`` (a fake that keeps what it was given).
    """

    async def send(self, email: Email, *, timeout_s: float) -> None:
        """Send ``email`` within ``timeout_s`` seconds.

        Raises:
            MailUnavailableError: the server failed (connection, 4xx, timeout): retry-safe.
            MailRejectedError: the server refused this message for good (5xx).
        """
        ...


class RecipientDirectory(Protocol):
    """The e-mail address of a user, asked of the context that owns users (identity).

    Notifications never read another context's tables: the directory is an adapter over
    that context's service.
    """

    async def email_of(self, tenant_id: int, user_id: int) -> str | None:
        """The user's address; None when the tenant has no such user (any more)."""
        ...

"""Adapters of the notifications ports: SMTP, the identity directory, in-memory fakes."""

from __future__ import annotations

from bazaar.contexts.notifications.adapters.memory import (
    InMemoryRecipientDirectory,
    RecordingMailSender,
)
from bazaar.contexts.notifications.adapters.recipients import IdentityRecipientDirectory
from bazaar.contexts.notifications.adapters.smtp_sender import (
    SMTP_SCHEMES,
    SmtpEndpoint,
    SmtpMailSender,
    parse_smtp_url,
)

__all__ = [
    "SMTP_SCHEMES",
    "IdentityRecipientDirectory",
    "InMemoryRecipientDirectory",
    "RecordingMailSender",
    "SmtpEndpoint",
    "SmtpMailSender",
    "parse_smtp_url",
]

"""The notifications application layer: the consumer's handler, the guarded mailer, ports."""

from __future__ import annotations

from bazaar.contexts.notifications.application.delivery import GuardedMailer
from bazaar.contexts.notifications.application.handlers import (
    COMPOSERS,
    CONSUMER,
    TOPICS,
    Notice,
    NotificationHandler,
    notification_subscription,
)
from bazaar.contexts.notifications.application.ports import MailSender, RecipientDirectory

__all__ = [
    "COMPOSERS",
    "CONSUMER",
    "TOPICS",
    "GuardedMailer",
    "MailSender",
    "Notice",
    "NotificationHandler",
    "RecipientDirectory",
    "notification_subscription",
]

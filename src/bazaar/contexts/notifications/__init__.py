"""Notifications (capabilities §4.4, §6.3): e-mails about orders and payments, the facade.

The context consumes events (``payments.payment_succeeded``, ``orders.order_confirmed``)
and sends one e-mail per event over SMTP, through the ``smtp`` dependency guard. Other code
uses it through these names: ``notification_subscription`` builds its consumer group, the
ports say what it needs, and the errors say how sending fails.
"""

from __future__ import annotations

from bazaar.contexts.notifications.application import (
    CONSUMER,
    TOPICS,
    GuardedMailer,
    MailSender,
    NotificationHandler,
    RecipientDirectory,
    notification_subscription,
)
from bazaar.contexts.notifications.domain import (
    SMTP_DEPENDENCY,
    Email,
    InvalidEmailError,
    MailRejectedError,
    MailUnavailableError,
    NotificationsError,
    message_id_for,
)

__all__ = [
    "CONSUMER",
    "SMTP_DEPENDENCY",
    "TOPICS",
    "Email",
    "GuardedMailer",
    "InvalidEmailError",
    "MailRejectedError",
    "MailSender",
    "MailUnavailableError",
    "NotificationHandler",
    "NotificationsError",
    "RecipientDirectory",
    "message_id_for",
    "notification_subscription",
]

"""The notifications domain: the e-mail value object, its Message-ID, templates and errors."""

from __future__ import annotations

from bazaar.contexts.notifications.domain.errors import (
    SMTP_DEPENDENCY,
    InvalidEmailError,
    MailRejectedError,
    MailUnavailableError,
    NotificationsError,
)
from bazaar.contexts.notifications.domain.model import MESSAGE_ID_DOMAIN, Email, message_id_for
from bazaar.contexts.notifications.domain.templates import (
    ORDER_CONFIRMED,
    PAYMENT_RECEIVED,
    Rendered,
    order_confirmed,
    payment_received,
)

__all__ = [
    "MESSAGE_ID_DOMAIN",
    "ORDER_CONFIRMED",
    "PAYMENT_RECEIVED",
    "SMTP_DEPENDENCY",
    "Email",
    "InvalidEmailError",
    "MailRejectedError",
    "MailUnavailableError",
    "NotificationsError",
    "Rendered",
    "message_id_for",
    "order_confirmed",
    "payment_received",
]

"""The demo mail sink: an SMTP server that keeps messages as files, and their reader."""

from __future__ import annotations

from bazaar.infra.mail.archive import RECEIVED_AT_HEADER, MailArchive, ReceivedMail
from bazaar.infra.mail.sink import MAX_MESSAGE_BYTES, MailSink

__all__ = ["MAX_MESSAGE_BYTES", "RECEIVED_AT_HEADER", "MailArchive", "MailSink", "ReceivedMail"]

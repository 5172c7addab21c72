"""Helpers for the notifications integration tests: an in-memory inbox, a scripted SMTP server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = ["FROM", "START", "FakeInbox", "ScriptedReplies", "scripted_smtp_server"]

START = 1_800_000_000.0
FROM = "bazaar <noreply@bazaar.test>"


class FakeInbox:
    """The ``Inbox`` port over a dict; ``records`` maps (consumer, message id) to when."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], datetime] = {}

    async def record(self, consumer: str, message_id: str, at: datetime) -> bool:
        if (consumer, message_id) in self.records:
            return False
        self.records[(consumer, message_id)] = at.astimezone(UTC)
        return True

    async def contains(self, consumer: str, message_id: str) -> bool:
        return (consumer, message_id) in self.records


class ScriptedReplies:
    """aiosmtpd hooks answering RCPT TO and DATA with the replies a test sets."""

    def __init__(self, rcpt: str = "250 OK", data: str = "250 OK") -> None:
        self.rcpt = rcpt
        self.data = data

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.rcpt.startswith("250"):
            envelope.rcpt_tos.append(address)
        return self.rcpt

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return self.data


@asynccontextmanager
async def scripted_smtp_server(replies: ScriptedReplies) -> AsyncIterator[str]:
    """An SMTP server on a free loopback port answering as ``replies`` says; yields its URL."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(replies, hostname="scripted.test", loop=loop), "127.0.0.1", 0
    )
    try:
        yield f"smtp://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()

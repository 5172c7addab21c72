"""``MailSink``: the demo SMTP server ``bazaar up`` starts; it keeps what it receives as files.

It stands in for a deployment's SMTP relay, so notifications take the real path: the SMTP
client, the ``smtp`` guard, a TCP connection. Every message lands in a ``MailArchive`` (one
``.eml`` per Message-ID, so re-sent notifications collapse), which the admin API reads.

The server (aiosmtpd's protocol) runs on the caller's event loop rather than in aiosmtpd's
``Controller`` thread: starting is one awaited bind on any port (0 picks a free one), and
``stop`` closes the listener and every open session on the same loop, so nothing outlives
it. File writes go to a worker thread to keep the loop free.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiosmtpd.smtp import SMTP, Envelope, Session

from bazaar.infra.mail.archive import MailArchive
from bazaar.kernel.clock import Clock, SystemClock, utc_from_timestamp

__all__ = ["MAX_MESSAGE_BYTES", "MailSink"]

MAX_MESSAGE_BYTES = 10 * 1024 * 1024
_STOP_WAIT_S = 2.0

log = logging.getLogger(__name__)
# aiosmtpd logs every command of every session at INFO: a demo sink's dialogue is noise.
_AIOSMTPD_LOG = "mail.log"


class _ArchiveHandler:
    """aiosmtpd's handler hooks: accept every recipient, archive every message."""

    def __init__(self, archive: MailArchive, clock: Clock) -> None:
        self.archive = archive
        self.clock = clock

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        received_at = utc_from_timestamp(self.clock.now())
        try:
            stored = await asyncio.to_thread(
                self.archive.save,
                raw,
                recipients=list(envelope.rcpt_tos),
                sender=envelope.mail_from,
                received_at=received_at,
            )
        except OSError:
            log.exception("mail sink: cannot store a message")
            return "451 4.3.0 Cannot store the message now, try again later"
        if not stored:
            return "250 2.0.0 OK: a message with this Message-ID is already stored"
        return "250 2.0.0 OK: stored"


class _SinkSession(SMTP):
    """One SMTP connection; registers itself so ``MailSink.stop`` can close it."""

    def __init__(self, handler: _ArchiveHandler, sink: MailSink, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._sink = sink

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._sink.session_opened(self)

    def connection_lost(self, error: Exception | None) -> None:
        try:
            super().connection_lost(error)
        finally:
            self._sink.session_closed(self)


class MailSink:
    """An SMTP server on ``host:port`` storing messages under ``directory``.

    States: built → started (``start``; ``port`` is then the bound port) → stopped
    (``stop``; idempotent). Usable as ``async with MailSink(...) as sink``.
    """

    def __init__(
        self,
        directory: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Clock | None = None,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        self.archive = MailArchive(directory)
        self.host = host
        self._port = port
        self._clock = clock or SystemClock()
        self._max_message_bytes = max_message_bytes
        self._server: asyncio.Server | None = None
        self._sessions: set[_SinkSession] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def directory(self) -> Path:
        return self.archive.directory

    @property
    def port(self) -> int:
        """The bound port once started (the requested one before)."""
        return self._port

    @property
    def url(self) -> str:
        """``smtp://host:port``: the value for ``BAZAAR_SMTP_URL``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"smtp://{host}:{self._port}"

    async def start(self) -> None:
        """Bind and listen.

        Raises:
            RuntimeError: already started.
            OSError: the address cannot be bound (the port is taken).
        """
        if self._server is not None:
            raise RuntimeError("the mail sink is already running")
        loop = asyncio.get_running_loop()
        handler = _ArchiveHandler(self.archive, self._clock)
        aiosmtpd_log = logging.getLogger(_AIOSMTPD_LOG)
        if aiosmtpd_log.level == logging.NOTSET:  # unless logging was configured for it
            aiosmtpd_log.setLevel(logging.WARNING)

        def session() -> _SinkSession:
            return _SinkSession(
                handler,
                self,
                loop=loop,
                hostname="bazaar-mail-sink",  # not socket.getfqdn(): that may block on DNS
                ident="bazaar mail sink",
                data_size_limit=self._max_message_bytes,
                enable_SMTPUTF8=True,
                timeout=60,
            )

        self._server = await loop.create_server(session, self.host, self._port)
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening, close open sessions and wait for them to end (bounded)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        await server.wait_closed()
        try:
            async with asyncio.timeout(_STOP_WAIT_S):
                await self._idle.wait()
        except TimeoutError:
            log.warning("mail sink: %d sessions did not close in time", len(self._sessions))
        # The closed sessions' handler tasks were cancelled: let them unwind.
        await asyncio.sleep(0)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def session_opened(self, session: _SinkSession) -> None:
        """Called by each session when its connection opens."""
        self._sessions.add(session)
        self._idle.clear()

    def session_closed(self, session: _SinkSession) -> None:
        """Called by each session when its connection is gone."""
        self._sessions.discard(session)
        if not self._sessions:
            self._idle.set()

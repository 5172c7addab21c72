"""``SmtpMailSender``: the ``MailSender`` port over SMTP (aiosmtplib), one connection per e-mail.

``smtp://[user:password@]host[:port]`` (port 25; STARTTLS when the server offers it) or
``smtps://…`` (implicit TLS, port 465). User and password are percent-decoded.

One ``send`` is one attempt within the timeout the guard hands it. The server's replies are
sorted at this boundary:
- 5xx to RCPT TO or DATA → ``MailRejectedError``: its answer about this message;
- anything else that went wrong (connection refused or lost, timeouts, 4xx replies, TLS
  errors, a refused sender or login — our integration failing, not this message) →
  ``MailUnavailableError``, which is safe to retry: the Message-ID makes copies collapse.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr
from urllib.parse import unquote, urlsplit

import aiosmtplib
from opentelemetry.trace import SpanKind, Status, StatusCode

from bazaar.contexts.notifications.domain.errors import MailRejectedError, MailUnavailableError
from bazaar.contexts.notifications.domain.model import Email
from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.observability import tracing

__all__ = ["SMTP_SCHEMES", "SmtpEndpoint", "SmtpMailSender", "parse_smtp_url"]

# Scheme -> (default port, implicit TLS).
SMTP_SCHEMES: dict[str, tuple[int, bool]] = {"smtp": (25, False), "smtps": (465, True)}


@dataclass(frozen=True, slots=True)
class SmtpEndpoint:
    """Where and how to connect, parsed from ``smtp_url``."""

    host: str
    port: int
    implicit_tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def parse_smtp_url(url: str, *, key: str = "smtp_url") -> SmtpEndpoint:
    """Parse ``smtp://`` / ``smtps://`` URLs.

    Raises:
        ConfigurationError: another scheme, no host, or a bad port (named by ``key``).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SMTP_SCHEMES:
        raise ConfigurationError(key, f"scheme must be smtp or smtps (got {parts.scheme!r})")
    if not parts.hostname:
        raise ConfigurationError(key, "has no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(key, f"bad port ({exc})") from None
    default_port, implicit_tls = SMTP_SCHEMES[scheme]
    return SmtpEndpoint(
        host=parts.hostname,
        port=port or default_port,
        implicit_tls=implicit_tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


class SmtpMailSender:
    """Sends e-mails to the SMTP server at ``url`` with ``From: from_address``.

    An empty ``url`` means no server is configured: every send fails as unavailable (the
    events wait in the outbox and the consumer's retries, as during an outage).

    Raises (on construction):
        ConfigurationError: ``url`` or ``from_address`` cannot be used.
    """

    def __init__(
        self,
        url: str,
        *,
        from_address: str,
        local_hostname: str | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.endpoint = parse_smtp_url(url) if url else None
        _, address = parseaddr(from_address)
        if "@" not in address or "\n" in from_address or "\r" in from_address:
            raise ConfigurationError("smtp_from", f"{from_address!r} is not an e-mail address")
        self.from_address = from_address
        self._envelope_from = address
        self._local_hostname = local_hostname
        self._tls_context = tls_context

    async def send(self, email: Email, *, timeout_s: float) -> None:
        """Send ``email`` in one SMTP session within ``timeout_s``, in a client span.

        Raises:
            MailUnavailableError: not configured, the server failed, or a 4xx reply.
            MailRejectedError: a 5xx reply to the recipient or to the message.
        """
        endpoint = self.endpoint
        with tracing.tracer().start_as_current_span(
            "smtp send",
            kind=SpanKind.CLIENT,
            # The server, not the recipient: addresses are personal data.
            attributes={
                "peer.service": "smtp",
                "server.address": endpoint.host if endpoint else "",
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                await self._send(email, timeout_s)
            except (MailUnavailableError, MailRejectedError) as exc:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise

    async def _send(self, email: Email, timeout_s: float) -> None:
        endpoint = self.endpoint
        if endpoint is None:
            raise MailUnavailableError("no SMTP server configured (smtp_url is empty)")
        message = self._message(email)
        try:
            hostname = await self._hostname()
            await aiosmtplib.send(
                message,
                sender=self._envelope_from,
                recipients=[email.to],
                hostname=endpoint.host,
                port=endpoint.port,
                username=endpoint.username,
                password=endpoint.password,
                use_tls=endpoint.implicit_tls,
                # None: STARTTLS when the server offers it (never for implicit TLS).
                start_tls=False if endpoint.implicit_tls else None,
                tls_context=self._tls_context,
                local_hostname=hostname,
                timeout=timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise _recipients_refused(email.to, exc) from exc
        except aiosmtplib.SMTPDataError as exc:
            raise _refused(email.to, exc.code, exc.message) from exc
        except aiosmtplib.SMTPResponseException as exc:
            # HELO, MAIL FROM or AUTH refused: the integration is broken, not this message.
            raise MailUnavailableError(f"{exc.code} {exc.message}".strip()) from exc
        except TimeoutError as exc:  # aiosmtplib's timeouts subclass it
            raise MailUnavailableError(f"timeout ({type(exc).__name__})") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:  # OSError: refused, reset, TLS
            raise MailUnavailableError(f"{type(exc).__name__}: {exc}") from exc

    def _message(self, email: Email) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.from_address
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Message-ID"] = email.message_id
        for name, value in email.headers.items():
            message[name] = value
        message.set_content(email.body_text)
        return message

    async def _hostname(self) -> str:
        # Resolved once, off the loop: socket.getfqdn() may wait on DNS for seconds, and
        # aiosmtplib would otherwise ask again on every connection.
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn) or "localhost"
        return self._local_hostname


def _refused(recipient: str, code: int, message: str) -> MailRejectedError | MailUnavailableError:
    if 500 <= code < 600:
        return MailRejectedError(recipient, code, message)
    return MailUnavailableError(f"{code} {message}".strip())


def _recipients_refused(
    recipient: str, exc: aiosmtplib.SMTPRecipientsRefused
) -> MailRejectedError | MailUnavailableError:
    # One recipient per e-mail: the list holds its one refusal.
    for refusal in exc.recipients:
        return _refused(refusal.recipient or recipient, refusal.code, refusal.message)
    return MailUnavailableError("recipients refused without a reply")

"""``GuardedMailer``: every e-mail through the ``smtp`` dependency guard."""

from __future__ import annotations

from bazaar.contexts.notifications.application.ports import MailSender
from bazaar.contexts.notifications.domain.errors import MailUnavailableError
from bazaar.contexts.notifications.domain.model import Email
from bazaar.kernel.resilience import (
    DependencyFailureError,
    DependencyGuard,
    DependencyUnavailableError,
)

__all__ = ["GuardedMailer"]


class GuardedMailer:
    """Sends through the guard: bulkhead, breaker, timeout, injected faults, retries.

    Sending is retry-safe (``retry_safe=True``): every attempt carries the same Message-ID
    and receivers keep one copy per Message-ID, so a timed-out attempt that did arrive is
    not delivered twice.

    How the outcomes leave ``send``, for the consumer runtime (capabilities §6.4, §6.4b):
    - the attempts failed → ``MailUnavailableError`` (a ``DependencyFailureError``): the
      consumer retries the message with backoff, then dead-letters it;
    - the breaker is open or the bulkhead full → ``DependencyUnavailableError`` as the
      guard raised it: the consumer pauses instead of burning attempts;
    - the server refused the message (5xx) → ``MailRejectedError``; the breaker counted
      a success, since the server did answer.
    """

    def __init__(self, sender: MailSender, guard: DependencyGuard) -> None:
        self.sender = sender
        self.guard = guard

    async def send(self, email: Email) -> None:
        """Send one e-mail.

        Raises:
            MailUnavailableError: the server failed on every attempt (retry later).
            DependencyUnavailableError: not attempted (breaker open, bulkhead full).
            MailRejectedError: the server refused the message for good.
        """

        async def attempt(timeout_s: float) -> None:
            await self.sender.send(email, timeout_s=timeout_s)

        try:
            await self.guard.call(attempt, retry_safe=True)
        except DependencyUnavailableError as exc:
            if exc.reason != "failed":
                raise
            cause = exc.__cause__
            reason = cause.reason if isinstance(cause, DependencyFailureError) else str(exc)
            raise MailUnavailableError(reason, exc.retry_after_s) from exc

"""In-memory adapters of the notifications ports: fakes with inspectable state, for tests."""

from __future__ import annotations

from collections.abc import Mapping

from bazaar.contexts.notifications.domain.model import Email

__all__ = ["InMemoryRecipientDirectory", "RecordingMailSender"]


class RecordingMailSender:
    """A ``MailSender`` that keeps every e-mail in ``sent``.

    ``fail_with`` (an exception instance) makes every send raise it instead, until it is
    set back to None; ``attempts`` counts sends, failed ones included.
    """

    def __init__(self) -> None:
        self.sent: list[Email] = []
        self.attempts = 0
        self.fail_with: Exception | None = None

    async def send(self, email: Email, *, timeout_s: float) -> None:
        self.attempts += 1
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(email)


class InMemoryRecipientDirectory:
    """A ``RecipientDirectory`` over a dict ``{(tenant_id, user_id): address}``."""

    def __init__(self, addresses: Mapping[tuple[int, int], str] | None = None) -> None:
        self.addresses: dict[tuple[int, int], str] = dict(addresses or {})

    async def email_of(self, tenant_id: int, user_id: int) -> str | None:
        return self.addresses.get((tenant_id, user_id))

"""The e-mail a notification becomes, and the Message-ID that makes re-sending it harmless.

A notification is delivered at least once: the consumer may send it again after a crash
or a retry. Receivers (the demo mail sink, and mail systems generally) drop a message whose
Message-ID they already hold, so the Message-ID is derived from the event and the template,
never drawn at random: a redelivered event produces the very same e-mail.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from bazaar.contexts.notifications.domain.errors import InvalidEmailError

__all__ = ["MESSAGE_ID_DOMAIN", "Email", "message_id_for"]

MESSAGE_ID_DOMAIN = "notifications.bazaar"

# RFC 5322 §3.2.3 atext: what an id-left may hold without quoting.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_MESSAGE_ID = re.compile(rf"<{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*>")
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 §2.2: printable ASCII except ":"
# Headers the e-mail's own fields set; a template must not smuggle in a second copy.
_RESERVED = frozenset({"to", "subject", "message-id", "from", "cc", "bcc"})


def message_id_for(event_id: str, template: str) -> str:
    """The Message-ID of the e-mail ``template`` renders for event ``event_id``.

    Deterministic: ``<{event_id}.{template}@notifications.bazaar>``. An event id that is not
    a valid id-left (RFC 5322 §3.6.4) is replaced by its SHA-256, still deterministic.
    """
    left = f"{event_id}.{template}"
    if not _DOT_ATOM.fullmatch(left):
        left = hashlib.sha256(left.encode()).hexdigest()
    return f"<{left}@{MESSAGE_ID_DOMAIN}>"


def _single_line(name: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        # A line break in a header value starts a new header: header injection.
        raise InvalidEmailError(name, "must not contain line breaks")


@dataclass(frozen=True, slots=True, kw_only=True)
class Email:
    """One plain-text e-mail to one recipient (a value object, validated when built).

    ``headers`` are extra header fields (``Date``, ``X-Bazaar-Event-Id``, ...); ``To``,
    ``Subject``, ``Message-ID`` and ``From`` come from the fields and the sender.

    Raises:
        InvalidEmailError: a header value with a line break, a malformed Message-ID, no
            address in ``to``, or a header that one of the fields already sets.
    """

    to: str
    subject: str
    body_text: str
    message_id: str
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if "@" not in self.to or any(c.isspace() for c in self.to.strip()):
            raise InvalidEmailError("to", f"{self.to!r} is not an e-mail address")
        _single_line("to", self.to)
        _single_line("subject", self.subject)
        if not _MESSAGE_ID.fullmatch(self.message_id):
            raise InvalidEmailError("message_id", f"{self.message_id!r} is not <left@right>")
        for name, value in self.headers.items():
            if not _HEADER_NAME.fullmatch(name):
                raise InvalidEmailError("headers", f"{name!r} is not a header name")
            if name.lower() in _RESERVED:
                raise InvalidEmailError("headers", f"{name} is set by the e-mail itself")
            _single_line(name, value)
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))

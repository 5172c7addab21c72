"""The SSRF guard's port: how a host name becomes addresses, injected so tests need no DNS."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from bazaar.kernel.ssrf.addresses import IPAddress

__all__ = ["Resolver"]


@runtime_checkable
class Resolver(Protocol):
    """Resolves a host name to every address a connection to it could use.

    ``check_url`` calls it once per URL and pins the answer: the connection later goes to
    one of these addresses, never to a second lookup's (which DNS rebinding would control).
    """

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        """All addresses of ``host`` for a TCP connection to ``port``.

        Raises:
            OSError: If the name does not resolve (``socket.gaierror`` is one).
        """
        ...

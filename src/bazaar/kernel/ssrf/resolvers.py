"""Resolvers: the system's (``getaddrinfo`` on the event loop) and a static one for tests."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable, Mapping, Sequence
from ipaddress import ip_address

from bazaar.kernel.ssrf.addresses import IPAddress

__all__ = ["StaticResolver", "SystemResolver"]


class SystemResolver:
    """``loop.getaddrinfo``: what a socket connect would use, /etc/hosts included
    (implements ``Resolver``)."""

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        """See ``Resolver.resolve``."""
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        found: list[IPAddress] = []
        for _family, _type, _proto, _canonname, sockaddr in infos:
            address = ip_address(sockaddr[0])
            if address not in found:
                found.append(address)
        return found


class StaticResolver:
    """Answers from a fixed table, the way a test wants DNS to (implements ``Resolver``).

    Names are matched case-insensitively, without a trailing dot; an unknown name fails
    like a missing DNS record. ``lookups`` records every question asked.
    """

    def __init__(self, table: Mapping[str, Iterable[str]]) -> None:
        """Create a resolver.

        Args:
            table: Host name -> its addresses as strings, e.g.
                ``{"hooks.example": ["93.184.215.14"]}``.
        """
        self._table = {
            name.lower().rstrip("."): [ip_address(a) for a in addresses]
            for name, addresses in table.items()
        }
        self.lookups: list[tuple[str, int]] = []

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        """See ``Resolver.resolve``."""
        self.lookups.append((host, port))
        try:
            return list(self._table[host.lower().rstrip(".")])
        except KeyError:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} not in the static table") from None

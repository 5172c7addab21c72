"""What the SSRF guard lets through: schemes, ports, and the allow-list for local development."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_network

from bazaar.kernel.errors import ConfigurationError
from bazaar.kernel.ssrf.addresses import IPAddress

__all__ = ["SsrfPolicy", "normalize_hostname"]

_HOSTNAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")


def normalize_hostname(host: str) -> str:
    """Lower case, without the trailing dot of a fully qualified name."""
    host = host.lower()
    return host[:-1] if host.endswith(".") else host


@dataclass(frozen=True, slots=True)
class SsrfPolicy:
    """The rules ``check_url`` applies.

    ``allow`` entries bypass the address check: a hostname (``localhost``, in ASCII/punycode
    form) lets every address that name resolves to through, a CIDR or a bare IP
    (``127.0.0.1/32``, ``::1``) lets those addresses through whatever name led to them.
    It exists for local development (``BAZAAR_SSRF_ALLOW``); production leaves it empty.
    Scheme, userinfo, and form checks apply to allowed hosts too.

    Attributes:
        allowed_schemes: Lower-case schemes a URL may use.
        allowed_ports: Ports a URL may name; None lets any port 1-65535 through.
        allow: Hostnames and networks that may be private.
        resolve_timeout_s: How long resolving a host may take before it counts as
            unresolvable.
        max_url_length: Longer URLs are refused as malformed.
    """

    allowed_schemes: tuple[str, ...] = ("http", "https")
    allowed_ports: tuple[int, ...] | None = None
    allow: tuple[str, ...] = ()
    resolve_timeout_s: float = 5.0
    max_url_length: int = 2048
    _hosts: frozenset[str] = field(init=False, repr=False, compare=False)
    _networks: tuple[IPv4Network | IPv6Network, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Parse the allow-list once.

        Raises:
            ConfigurationError: If an entry is neither a hostname nor a network, or a
                scheme, port or limit is out of range.
        """
        if not self.allowed_schemes or any(
            s != s.lower() or not re.fullmatch(r"[a-z][a-z0-9+.-]*", s)
            for s in self.allowed_schemes
        ):
            raise ConfigurationError(
                "allowed_schemes", f"must be lower-case URL schemes, got {self.allowed_schemes}"
            )
        if self.allowed_ports is not None and any(
            not 0 < port < 65536 for port in self.allowed_ports
        ):
            raise ConfigurationError("allowed_ports", f"must be 1-65535, got {self.allowed_ports}")
        if not math.isfinite(self.resolve_timeout_s) or self.resolve_timeout_s <= 0:
            raise ConfigurationError(
                "resolve_timeout_s", f"must be a positive number, got {self.resolve_timeout_s}"
            )
        if self.max_url_length < 16:
            raise ConfigurationError("max_url_length", f"too small: {self.max_url_length}")
        hosts: set[str] = set()
        networks: list[IPv4Network | IPv6Network] = []
        for entry in self.allow:
            text = entry.strip()
            try:
                networks.append(ip_network(text, strict=False))
                continue
            except ValueError:
                pass
            name = normalize_hostname(text)
            if not _HOSTNAME.fullmatch(name):
                raise ConfigurationError(
                    "ssrf_allow", f"{entry!r} is neither a hostname nor an IP network"
                )
            hosts.add(name)
        object.__setattr__(self, "_hosts", frozenset(hosts))
        object.__setattr__(self, "_networks", tuple(networks))

    def allows_host(self, host: str) -> bool:
        """Whether ``host`` (ASCII) is allow-listed by name."""
        return normalize_hostname(host) in self._hosts

    def allows_address(self, address: IPAddress) -> bool:
        """Whether ``address`` is inside an allow-listed network."""
        return any(address.version == n.version and address in n for n in self._networks)

    def allows_port(self, port: int) -> bool:
        """Whether a URL may name ``port``."""
        return self.allowed_ports is None or port in self.allowed_ports

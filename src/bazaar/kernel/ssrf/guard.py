"""``check_url``: the SSRF guard every user-given outbound URL passes before bazaar connects."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from ipaddress import IPv6Address

import httpx

from bazaar.kernel.ssrf.addresses import IPAddress, classify_address, parse_ipv4_host
from bazaar.kernel.ssrf.errors import UnsafeReason, UnsafeUrlError
from bazaar.kernel.ssrf.policy import SsrfPolicy, normalize_hostname
from bazaar.kernel.ssrf.ports import Resolver
from bazaar.kernel.ssrf.resolvers import SystemResolver

__all__ = ["SafeTarget", "check_url"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
# Whitespace and control characters are where URL parsers disagree (some strip them, some
# stop at them); a backslash is a path separator to browsers and WHATWG, not to RFC 3986.
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\\]")
_PORT = re.compile(r"[0-9]{1,5}")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


@dataclass(frozen=True, slots=True)
class SafeTarget:
    """A URL that passed the guard, with the addresses it was resolved to, once.

    Connect only to ``addresses`` (``pinned_transport`` does): resolving ``host`` again
    would let a DNS rebinding answer differently the second time. ``host`` goes unchanged
    into the ``Host`` header and TLS SNI, so virtual hosting and certificate checks work.

    Attributes:
        url: The URL, normalized (lower-case scheme and host, IDNA host, default port dropped).
        scheme: ``http`` or ``https`` (or another allowed scheme).
        host: The ASCII host as httpx will send it (lower case, IPv6 without brackets).
        port: The port to connect to, the scheme's default filled in.
        addresses: Every address the host resolved to, in the resolver's order, all allowed.
    """

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...]


@dataclass(frozen=True, slots=True)
class _Parsed:
    url: str  # httpx's normal form
    scheme: str
    host: str  # ASCII, lower case; IPv6 without brackets
    port: int
    literal: IPAddress | None  # the address, when the host is one


async def check_url(
    url: str, *, resolver: Resolver | None = None, policy: SsrfPolicy | None = None
) -> SafeTarget:
    """Refuse a URL that could reach bazaar's own network, or return where to connect.

    Checks, in order: length and characters; scheme (allow-list); an authority with no
    userinfo; a port of digits in range (and allowed); a host that is a name, a canonical
    dotted IPv4 or a bracketed IPv6 (numeric forms such as ``2130706433`` or ``0x7f.1`` are
    refused); the same reading by httpx, the client that will send the request. Then the
    host is resolved once, and the URL is refused if ANY address is non-public (loopback,
    private, link-local, metadata, CGNAT, multicast, reserved, or an IPv6 form embedding
    one) unless the policy's allow-list covers it.

    Args:
        url: The user-given URL.
        resolver: Host name -> addresses; the system's ``getaddrinfo`` by default.
        policy: Schemes, ports, allow-list; ``SsrfPolicy()`` by default.

    Returns:
        The target, with the pinned addresses.

    Raises:
        UnsafeUrlError: With the ``reason`` the URL was refused for.
    """
    policy = policy if policy is not None else SsrfPolicy()
    resolver = resolver if resolver is not None else SystemResolver()
    parsed = _parse(url, policy)
    if parsed.literal is not None:
        addresses: tuple[IPAddress, ...] = (parsed.literal,)
    else:
        addresses = await _resolve(url, parsed, resolver, policy)
    host_allowed = parsed.literal is None and policy.allows_host(parsed.host)
    for address in addresses:
        category = classify_address(address)
        if category is not None and not (host_allowed or policy.allows_address(address)):
            raise UnsafeUrlError(
                url, UnsafeReason.PRIVATE_ADDRESS, address=address, category=category
            )
    return SafeTarget(parsed.url, parsed.scheme, parsed.host, parsed.port, addresses)


def _parse(url: str, policy: SsrfPolicy) -> _Parsed:
    if len(url) > policy.max_url_length or _FORBIDDEN.search(url):
        raise UnsafeUrlError(url, UnsafeReason.MALFORMED)
    scheme_match = _SCHEME.match(url)
    if scheme_match is None:
        raise UnsafeUrlError(url, UnsafeReason.MALFORMED)
    scheme = scheme_match.group(1).lower()
    if scheme not in policy.allowed_schemes:
        raise UnsafeUrlError(url, UnsafeReason.SCHEME)
    rest = url[scheme_match.end() :]
    if not rest.startswith("//"):
        raise UnsafeUrlError(url, UnsafeReason.MALFORMED)
    authority = re.split(r"[/?#]", rest[2:], maxsplit=1)[0]
    if "@" in authority:
        raise UnsafeUrlError(url, UnsafeReason.USERINFO)
    if "%" in authority:
        # Percent-encoded hosts and IPv6 zone ids: decoders disagree on both.
        raise UnsafeUrlError(url, UnsafeReason.MALFORMED)
    host_text, port_text = _split_authority(url, authority)
    port = _port(url, scheme, port_text, policy)
    typed = host_text.lower()
    if not typed.startswith("["):
        _refuse_odd_ipv4(url, typed, policy)

    # The request will be built by httpx from this string: if its parser read another
    # origin than ours, the check would be about a different URL than the one fetched.
    try:
        theirs = httpx.URL(url)
        raw_host = theirs.raw_host.decode("ascii").lower()
    except (httpx.InvalidURL, UnicodeError):
        raise UnsafeUrlError(url, UnsafeReason.MALFORMED) from None
    their_port = theirs.port if theirs.port is not None else _DEFAULT_PORTS.get(theirs.scheme)
    if theirs.scheme != scheme or theirs.userinfo or their_port != port:
        raise UnsafeUrlError(url, UnsafeReason.MALFORMED)

    if host_text.startswith("["):
        try:
            literal: IPAddress = IPv6Address(host_text[1:-1])
            agrees = IPv6Address(raw_host) == literal
        except ValueError:
            raise UnsafeUrlError(url, UnsafeReason.MALFORMED) from None
        if not agrees:
            raise UnsafeUrlError(url, UnsafeReason.MALFORMED)
        return _Parsed(str(theirs), scheme, raw_host, port, literal)

    # A Unicode name arrives here in httpx's IDNA (punycode) form, which is what DNS, the
    # Host header and SNI will see, so every further check reads that form.
    if typed.isascii() and normalize_hostname(typed) != normalize_hostname(raw_host):
        raise UnsafeUrlError(url, UnsafeReason.MALFORMED)
    _refuse_odd_ipv4(url, raw_host, policy)
    ipv4 = parse_ipv4_host(raw_host)
    if ipv4 is not None:
        if raw_host != typed:
            # A Unicode spelling that IDNA maps to an address literal (ideographic dots).
            raise UnsafeUrlError(url, UnsafeReason.MALFORMED)
        return _Parsed(str(theirs), scheme, raw_host, port, ipv4)
    name = normalize_hostname(raw_host)
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise UnsafeUrlError(url, UnsafeReason.MALFORMED)
    return _Parsed(str(theirs), scheme, raw_host, port, None)


def _refuse_odd_ipv4(url: str, host: str, policy: SsrfPolicy) -> None:
    """Refuse a numeric host that is not plain dotted decimal (``2130706433``, ``0x7f.1``).

    Nothing legitimate is written that way; it exists to slip past string checks. The
    reason names the address's range when it is a refused one, so ``http://2130706433``
    reads as the loopback attempt it is.
    """
    try:
        address = parse_ipv4_host(host)
    except ValueError:
        raise UnsafeUrlError(url, UnsafeReason.MALFORMED) from None
    if address is None or host == str(address):
        return
    category = classify_address(address)
    if category is not None and not policy.allows_address(address):
        raise UnsafeUrlError(url, UnsafeReason.PRIVATE_ADDRESS, address=address, category=category)
    raise UnsafeUrlError(url, UnsafeReason.MALFORMED)


def _split_authority(url: str, authority: str) -> tuple[str, str | None]:
    if authority.startswith("["):
        end = authority.find("]")
        if end == -1:
            raise UnsafeUrlError(url, UnsafeReason.MALFORMED)
        host, after = authority[: end + 1], authority[end + 1 :]
        if after and not after.startswith(":"):
            raise UnsafeUrlError(url, UnsafeReason.MALFORMED)
        return host, after[1:] if after else None
    host, colon, port_text = authority.partition(":")
    if not host:
        raise UnsafeUrlError(url, UnsafeReason.MALFORMED)
    return host, port_text if colon else None


def _port(url: str, scheme: str, text: str | None, policy: SsrfPolicy) -> int:
    if text is None:
        port = _DEFAULT_PORTS.get(scheme)
        if port is None:
            raise UnsafeUrlError(url, UnsafeReason.MALFORMED)
    elif _PORT.fullmatch(text) and 0 < int(text) < 65536:
        port = int(text)
    else:
        raise UnsafeUrlError(url, UnsafeReason.MALFORMED)
    if not policy.allows_port(port):
        raise UnsafeUrlError(url, UnsafeReason.PORT)
    return port


async def _resolve(
    url: str, parsed: _Parsed, resolver: Resolver, policy: SsrfPolicy
) -> tuple[IPAddress, ...]:
    try:
        async with asyncio.timeout(policy.resolve_timeout_s):
            found = await resolver.resolve(parsed.host, parsed.port)
    except (OSError, TimeoutError, UnicodeError, ValueError):
        raise UnsafeUrlError(url, UnsafeReason.UNRESOLVABLE) from None
    addresses = tuple(dict.fromkeys(found))
    if not addresses:
        raise UnsafeUrlError(url, UnsafeReason.UNRESOLVABLE)
    return addresses

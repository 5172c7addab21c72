"""An httpx transport that connects only to a ``SafeTarget``'s pinned addresses.

httpx resolves the URL's host itself when it connects; between ``check_url`` and that
moment a DNS rebinding attack can change the answer to 127.0.0.1. This transport never
resolves: its httpcore network backend ignores the host name and dials the addresses the
guard already checked, while the request (``Host`` header, TLS SNI and certificate
verification) still names the original host. httpx's ``AsyncHTTPTransport`` does not
accept a network backend, so this builds the httpcore pool itself and bridges requests,
responses and exceptions the way httpx does, through public httpx and httpcore APIs only.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from ipaddress import ip_address
from typing import Any

import httpcore
import httpx

from bazaar.kernel.ssrf.errors import UnsafeReason, UnsafeUrlError
from bazaar.kernel.ssrf.guard import SafeTarget

__all__ = ["PinnedNetworkBackend", "PinnedTransport", "pinned_transport"]

_DEFAULT_PORTS = {"http": 80, "https": 443}

# httpcore's exceptions -> httpx's, most specific first (as httpx's own transport maps them).
_EXCEPTIONS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


def _host_key(host: str) -> str:
    # IPv6 literals have many spellings (::1, 0:0::1, upper case); compare the address.
    try:
        return str(ip_address(host))
    except ValueError:
        return host.lower()


@contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for theirs, ours in _EXCEPTIONS:
            if isinstance(exc, theirs):
                raise ours(str(exc)) from exc
        raise


class PinnedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Dials a ``SafeTarget``'s addresses in order, whatever host httpcore asks for.

    The first address that accepts the connection is used; a refused or timed-out one
    falls through to the next (each attempt gets the full connect timeout). A port other
    than the target's is refused: a pool built on this backend serves one origin only.
    """

    def __init__(
        self, target: SafeTarget, backend: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        """Create a backend.

        Args:
            target: Where to connect.
            backend: The backend that really dials; httpcore's anyio backend by default.
        """
        self._target = target
        self._backend = backend if backend is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Connect to the first pinned address that answers, on the target's port.

        Raises:
            httpcore.ConnectError: If ``host``/``port`` are not the target's, or no address
                accepted the connection.
        """
        if _host_key(host) != _host_key(self._target.host) or port != self._target.port:
            raise httpcore.ConnectError(f"{host}:{port} is not the pinned target")
        failure: Exception | None = None
        for address in self._target.addresses:
            try:
                return await self._backend.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # a SafeTarget always has an address
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Refused: a pinned target is reached over TCP only."""
        raise httpcore.ConnectError("a pinned transport does not use Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class _ResponseStream(httpx.AsyncByteStream):
    """httpcore's response body as httpx expects it, with httpcore errors turned into httpx's."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            with _httpx_errors():
                await aclose()


class PinnedTransport(httpx.AsyncBaseTransport):
    """An httpx transport for one ``SafeTarget``: requests to its origin only, over
    connections to its pinned addresses.

    A request for another origin (a redirect followed to elsewhere, a URL changed after the
    check) raises ``UnsafeUrlError`` with reason ``unpinned``: such a URL must go through
    ``check_url`` itself. No proxy is used (environment proxies are not consulted; a proxy
    would resolve the name again).
    """

    def __init__(
        self,
        target: SafeTarget,
        *,
        verify: ssl.SSLContext | bool = True,
        http2: bool = False,
        limits: httpx.Limits | None = None,
        retries: int = 0,
        backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        """Create a transport.

        Args:
            target: What ``check_url`` returned.
            verify: TLS verification: True (system CAs via certifi), False, or a context.
            http2: Offer HTTP/2 (needs the ``h2`` package).
            limits: Pool limits; httpx's defaults if None.
            retries: Connection retries, as httpx's transport.
            backend: The backend that really dials (tests); httpcore's anyio backend.
        """
        limits = limits if limits is not None else httpx.Limits()
        ssl_context = (
            verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify)
        )
        self._target = target
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            retries=retries,
            network_backend=PinnedNetworkBackend(target, backend),
        )

    @property
    def target(self) -> SafeTarget:
        """The target this transport is pinned to."""
        return self._target

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` over a pinned connection.

        Raises:
            UnsafeUrlError: If the request is for another origin than the target's.
            httpx.TransportError: As httpx's own transport would.
        """
        url = request.url
        port = url.port if url.port is not None else _DEFAULT_PORTS.get(url.scheme)
        origin = (url.scheme, _host_key(url.raw_host.decode("ascii")), port)
        target = self._target
        if origin != (target.scheme, _host_key(target.host), target.port):
            raise UnsafeUrlError(str(url), UnsafeReason.UNPINNED)
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = await self._pool.handle_async_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


def pinned_transport(
    target: SafeTarget,
    *,
    verify: ssl.SSLContext | bool = True,
    http2: bool = False,
    limits: httpx.Limits | None = None,
) -> PinnedTransport:
    """The transport to send a checked URL with::

        target = await check_url(endpoint_url, policy=policy)
        async with httpx.AsyncClient(transport=pinned_transport(target)) as client:
            response = await client.post(target.url, content=body, headers=headers)

    Args:
        target: What ``check_url`` returned.
        verify: TLS verification: True, False, or an ``ssl.SSLContext``.
        http2: Offer HTTP/2 (needs the ``h2`` package).
        limits: Pool limits; httpx's defaults if None.

    Returns:
        A transport that reaches only ``target``'s origin, at its pinned addresses.
    """
    return PinnedTransport(target, verify=verify, http2=http2, limits=limits)

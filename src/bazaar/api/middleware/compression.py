"""Response compression (capabilities §1.7): br or gzip, as the client accepts, above 1 KiB."""

from __future__ import annotations

import enum
import re
import zlib
from functools import lru_cache
from typing import Protocol

import brotli

from bazaar.api.middleware._asgi import ASGIApp, Message, Receive, Scope, Send, header

__all__ = [
    "BROTLI_QUALITY",
    "DEFAULT_THRESHOLD_BYTES",
    "GZIP_LEVEL",
    "CompressionMiddleware",
    "ContentCoding",
    "negotiate_coding",
]

DEFAULT_THRESHOLD_BYTES = 1024
# Levels for compressing on every request, not once at build time. Measured on a synthetic
# 100-product page (47 KB of JSON): gzip 6 → 7.0 % of the size in 0.35 ms, gzip 9 → 6.5 %
# in 1.0 ms; br 4 → 6.6 % in 0.31 ms, br 5 → 6.0 % in 0.49 ms, br 11 (brotli's default,
# meant for static assets) → 5.1 % in 85 ms. gzip 6 is zlib's default and the knee of its
# curve; br 4 is as fast as gzip 6 and smaller, so asking for br never costs more CPU.
GZIP_LEVEL = 6
BROTLI_QUALITY = 4

# Media that is compressed already (or that a second pass only inflates): never touched.
_INCOMPRESSIBLE_PREFIXES = (b"image/", b"video/", b"audio/")
_COMPRESSIBLE_EXCEPTIONS = frozenset({b"image/svg+xml", b"image/bmp", b"image/x-icon"})
_INCOMPRESSIBLE = frozenset(
    {
        b"application/zip",
        b"application/gzip",
        b"application/x-gzip",
        b"application/x-brotli",
        b"application/zstd",
        b"application/x-bzip2",
        b"application/x-xz",
        b"application/x-7z-compressed",
        b"application/vnd.rar",
        b"application/octet-stream",
        b"font/woff",
        b"font/woff2",
        # Not incompressible, but events must reach the client as they happen: buffering
        # the first KiB (or a compressor's window) would hold them back.
        b"text/event-stream",
    }
)
_NO_BODY_STATUSES = frozenset({204, 304})
_QVALUE = re.compile(r"^(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$")


class ContentCoding(enum.Enum):
    """A content coding this middleware can produce (RFC 9110 §8.4.1)."""

    BR = "br"
    GZIP = "gzip"


@lru_cache(maxsize=256)
def negotiate_coding(accept_encoding: bytes | None) -> ContentCoding | None:
    """The coding to answer with for this ``Accept-Encoding``, or None for identity.

    Follows RFC 9110 §12.5.3: a coding with ``q=0`` is refused; a coding the header does not
    name is acceptable only through ``*``; no header at all means identity. Of br and gzip
    the higher ``q`` wins, br on a tie (smaller at the same cost, see ``BROTLI_QUALITY``).
    Identity wins only when the client ranks it above both. Malformed entries are ignored.

    Clients send a handful of distinct values, so the answer is cached per header value.
    """
    if accept_encoding is None:
        return None
    weights: dict[str, float] = {}
    for entry in accept_encoding.decode("latin-1").split(","):
        name, _, params = entry.partition(";")
        coding = name.strip().lower()
        if not coding:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                value = value.strip()
                q = float(value) if _QVALUE.match(value) else -1.0
        if q < 0:
            continue
        # RFC 9110 §8.4.1.3: x-gzip is gzip.
        weights.setdefault("gzip" if coding == "x-gzip" else coding, q)
    star = weights.get("*")
    best: ContentCoding | None = None
    best_q = 0.0
    for candidate in (ContentCoding.BR, ContentCoding.GZIP):  # br first: it wins ties
        q = weights.get(candidate.value, 0.0 if star is None else star)
        if q > best_q:
            best, best_q = candidate, q
    identity_q = weights.get("identity", star)
    if best is None or (identity_q is not None and identity_q > best_q):
        return None
    return best


class _StreamCompressor(Protocol):
    def chunk(self, data: bytes) -> bytes: ...

    def finish(self, data: bytes) -> bytes: ...


class _GzipStream:
    __slots__ = ("_zlib",)

    def __init__(self) -> None:
        # wbits 31: a gzip header and trailer around the deflate stream (mtime 0).
        self._zlib = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)

    def chunk(self, data: bytes) -> bytes:
        # A sync flush per chunk: the app chose where its chunks end, and a streamed
        # response is streamed so that each piece arrives without waiting for the next.
        return self._zlib.compress(data) + self._zlib.flush(zlib.Z_SYNC_FLUSH)

    def finish(self, data: bytes) -> bytes:
        return self._zlib.compress(data) + self._zlib.flush(zlib.Z_FINISH)


class _BrotliStream:
    __slots__ = ("_brotli",)

    def __init__(self) -> None:
        self._brotli = brotli.Compressor(quality=BROTLI_QUALITY)

    def chunk(self, data: bytes) -> bytes:
        out: bytes = self._brotli.process(data) + self._brotli.flush()
        return out

    def finish(self, data: bytes) -> bytes:
        out: bytes = self._brotli.process(data) + self._brotli.finish()
        return out


def _compress_whole(coding: ContentCoding, body: bytes) -> bytes:
    if coding is ContentCoding.BR:
        out: bytes = brotli.compress(body, quality=BROTLI_QUALITY)
        return out
    return zlib.compress(body, GZIP_LEVEL, wbits=31)


def _stream_compressor(coding: ContentCoding) -> _StreamCompressor:
    return _BrotliStream() if coding is ContentCoding.BR else _GzipStream()


def _compressible(content_type: bytes) -> bool:
    media_type = content_type.split(b";", 1)[0].strip().lower()
    if not media_type or media_type in _INCOMPRESSIBLE:
        return False
    return media_type in _COMPRESSIBLE_EXCEPTIONS or not media_type.startswith(
        _INCOMPRESSIBLE_PREFIXES
    )


def _with_vary(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` with ``Accept-Encoding`` in ``Vary``: merged into the first one, if any."""
    for index, (name, value) in enumerate(headers):
        if name.lower() != b"vary":
            continue
        tokens = {token.strip().lower() for token in value.split(b",")}
        if b"*" in tokens or b"accept-encoding" in tokens:
            return headers
        merged = value + b", Accept-Encoding" if value.strip() else b"Accept-Encoding"
        return [*headers[:index], (name, merged), *headers[index + 1 :]]
    return [*headers, (b"vary", b"Accept-Encoding")]


class _Mode(enum.Enum):
    PASSING = "passing"  # the start has gone out; bodies pass as they are
    DECIDING = "deciding"  # the start is held while the first KiB is gathered
    COMPRESSING = "compressing"  # the start has gone out with Content-Encoding


class CompressionMiddleware:
    """Compresses response bodies larger than ``threshold_bytes`` with br or gzip.

    Per response, a small state machine (``_Mode``): the start is held (DECIDING) until the
    body is known to be over the threshold or complete. A whole body that arrives in one
    message, as every JSON answer does, is compressed in one call and gets an exact
    ``Content-Length``; a streamed body over the threshold is compressed chunk by chunk
    (COMPRESSING) and loses ``Content-Length`` (the server frames it). A body at or under
    the threshold, or one that compression would not shrink, goes out as it was.

    Untouched: responses to HEAD, 1xx/204/304, ranges (``Content-Range``), bodies that
    already have a ``Content-Encoding``, ``Cache-Control: no-transform``, responses without
    a content type and media that is compressed already (images, audio, video, archives,
    woff fonts) or must not wait (``text/event-stream``). ``Vary: Accept-Encoding`` is
    added to every answer of a compressible type, compressed or not, and to 304s, so no
    cache hands a compressed body to a client that cannot read it.

    The ``ETag`` is left as it is, on purpose: bazaar's tags name a resource's version, which
    ``If-Match`` compares strongly. Making it weak when compressing (as nginx does) would
    turn every write that follows a compressed GET into a 412; no range requests are served,
    and ``Vary`` keeps the encodings apart in caches.
    """

    def __init__(self, app: ASGIApp, *, threshold_bytes: int = DEFAULT_THRESHOLD_BYTES) -> None:
        """Wrap ``app``.

        Args:
            app: The ASGI app whose responses to compress.
            threshold_bytes: Bodies longer than this are compressed; shorter ones are not
                worth a compressor's CPU and framing bytes.

        Raises:
            ValueError: If ``threshold_bytes`` is negative.
        """
        if threshold_bytes < 0:
            raise ValueError(f"threshold_bytes must be >= 0, got {threshold_bytes}")
        self.app = app
        self.threshold_bytes = threshold_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        coding = None if head else negotiate_coding(header(scope, b"accept-encoding"))
        await self.app(scope, receive, _Response(send, coding, self.threshold_bytes).send)


class _Response:
    """The state of one response on its way out (see ``CompressionMiddleware``)."""

    __slots__ = ("buffer", "coding", "compressor", "held", "mode", "outer", "threshold")

    def __init__(self, outer: Send, coding: ContentCoding | None, threshold: int) -> None:
        self.outer = outer
        self.coding = coding
        self.threshold = threshold
        self.mode = _Mode.PASSING
        self.held: Message | None = None
        self.buffer = bytearray()
        self.compressor: _StreamCompressor | None = None

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            await self._start(message)
        elif self.mode is _Mode.PASSING:
            await self.outer(message)
        elif kind != "http.response.body":
            if self.mode is _Mode.DECIDING:
                # Not a body (a pathsend, say) while the start is held: this response
                # cannot be compressed; let it out as it was.
                await self._release(more_body=True)
            await self.outer(message)
        elif self.mode is _Mode.DECIDING:
            await self._gather(message)
        else:
            await self._compress(message)

    async def _start(self, message: Message) -> None:
        status: int = message["status"]
        headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
        content_type: bytes | None = None
        skip = status < 200 or status == 204
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"content-type":
                content_type = value
            elif lowered in (b"content-encoding", b"content-range") or (
                lowered == b"cache-control" and b"no-transform" in value.lower()
            ):
                skip = True
        if not skip and (status == 304 or (content_type and _compressible(content_type))):
            headers = _with_vary(headers)
            message["headers"] = headers
            if self.coding is not None and status not in _NO_BODY_STATUSES:
                self.held = message
                self.mode = _Mode.DECIDING
                return
        await self.outer(message)

    async def _gather(self, message: Message) -> None:
        self.buffer += message.get("body", b"")
        more_body = bool(message.get("more_body", False))
        if len(self.buffer) <= self.threshold:
            if not more_body:
                await self._release(more_body=False)
            return
        assert self.held is not None
        assert self.coding is not None
        if not more_body:
            body = bytes(self.buffer)
            compressed = _compress_whole(self.coding, body)
            if len(compressed) >= len(body):
                await self._release(more_body=False)
                return
            await self.outer(self._encoded_start(len(compressed)))
            self.mode = _Mode.PASSING
            await self.outer({"type": "http.response.body", "body": compressed})
            return
        self.compressor = _stream_compressor(self.coding)
        await self.outer(self._encoded_start(None))
        self.mode = _Mode.COMPRESSING
        data = self.compressor.chunk(bytes(self.buffer))
        self.buffer.clear()
        await self.outer({"type": "http.response.body", "body": data, "more_body": True})

    async def _compress(self, message: Message) -> None:
        assert self.compressor is not None
        body = message.get("body", b"")
        if message.get("more_body", False):
            data = self.compressor.chunk(body)
            if data:
                await self.outer({"type": "http.response.body", "body": data, "more_body": True})
            return
        await self.outer({"type": "http.response.body", "body": self.compressor.finish(body)})
        self.mode = _Mode.PASSING

    async def _release(self, *, more_body: bool) -> None:
        """Send the held start and gathered body unchanged; pass everything after."""
        assert self.held is not None
        held, self.held = self.held, None
        self.mode = _Mode.PASSING
        await self.outer(held)
        if self.buffer or not more_body:
            body = bytes(self.buffer)
            self.buffer.clear()
            await self.outer({"type": "http.response.body", "body": body, "more_body": more_body})

    def _encoded_start(self, length: int | None) -> Message:
        assert self.held is not None
        assert self.coding is not None
        headers = [
            (name, value)
            for name, value in self.held["headers"]
            if name.lower() != b"content-length"
        ]
        headers.append((b"content-encoding", self.coding.value.encode("ascii")))
        if length is not None:
            headers.append((b"content-length", str(length).encode("ascii")))
        start = {**self.held, "headers": headers}
        self.held = None
        return start

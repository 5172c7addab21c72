"""The compression middleware around tiny ASGI apps: negotiation, framing, headers, streams."""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Sequence

import brotli
import pytest

from bazaar.api.middleware import CompressionMiddleware
from bazaar.api.middleware._asgi import ASGIApp, Message, Receive, Scope, Send
from bazaar.api.middleware.compression import ContentCoding, negotiate_coding

JSON = b"application/json"
# Compressible text of a given length (a product page is much like this).
TEXT = b'{"name": "Cast Iron Pan", "price": {"amount": "19.99", "currency": "EUR"}}, ' * 200


def answering(
    body: bytes | Sequence[bytes],
    *,
    content_type: bytes | None = JSON,
    status: int = 200,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> ASGIApp:
    """An app that answers ``body`` in one message, or in the given chunks (``more_body``)."""
    chunks = [body] if isinstance(body, bytes) else list(body)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raw = [*headers]
        if content_type is not None:
            raw.append((b"content-type", content_type))
        raw.append((b"content-length", str(sum(map(len, chunks))).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": not last})

    return app


async def run(
    app: ASGIApp,
    accept_encoding: bytes | None = b"gzip, deflate, br",
    *,
    method: str = "GET",
    threshold_bytes: int = 1024,
) -> list[Message]:
    """The messages the middleware sends for one request."""
    headers = [] if accept_encoding is None else [(b"accept-encoding", accept_encoding)]
    scope: Scope = {"type": "http", "method": method, "path": "/", "headers": headers}
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await CompressionMiddleware(app, threshold_bytes=threshold_bytes)(scope, receive, send)
    return sent


def headers_of(messages: list[Message]) -> dict[bytes, bytes]:
    assert messages[0]["type"] == "http.response.start"
    return {name: value for name, value in messages[0]["headers"]}


def body_of(messages: list[Message]) -> bytes:
    bodies = [m for m in messages if m["type"] == "http.response.body"]
    assert not bodies[-1].get("more_body", False), "the last body message ends the response"
    return b"".join(m.get("body", b"") for m in bodies)


def decoded(messages: list[Message]) -> bytes:
    coding = headers_of(messages).get(b"content-encoding")
    body = body_of(messages)
    if coding == b"br":
        return bytes(brotli.decompress(body))
    if coding == b"gzip":
        return gzip.decompress(body)
    assert coding is None
    return body


class TestNegotiation:
    @pytest.mark.parametrize(
        ("accept_encoding", "expected"),
        [
            (None, None),
            (b"", None),
            (b"gzip", ContentCoding.GZIP),
            (b"br", ContentCoding.BR),
            (b"gzip, deflate, br, zstd", ContentCoding.BR),
            (b"GZIP", ContentCoding.GZIP),
            (b"x-gzip", ContentCoding.GZIP),
            (b"br;q=0.5, gzip", ContentCoding.GZIP),
            (b"br;q=0.8, gzip;q=0.9", ContentCoding.GZIP),
            (b"gzip;q=0.7, br;q=0.7", ContentCoding.BR),
            (b"br;q=0, gzip", ContentCoding.GZIP),
            (b"br; q=0 , gzip ; q=1.0", ContentCoding.GZIP),
            (b"gzip;q=0", None),
            (b"br;q=0, gzip;q=0.000", None),
            (b"identity", None),
            (b"deflate, zstd", None),
            (b"*", ContentCoding.BR),
            (b"*;q=0", None),
            (b"*, br;q=0", ContentCoding.GZIP),
            (b"gzip;q=0.5, identity", None),
            (b"gzip, identity;q=0", ContentCoding.GZIP),
            (b"br;q=2, gzip;q=abc, gzip;q=0.4", ContentCoding.GZIP),
            (b",,;q=1, br", ContentCoding.BR),
        ],
    )
    def test_picks_the_coding_the_client_prefers(
        self, accept_encoding: bytes | None, expected: ContentCoding | None
    ) -> None:
        assert negotiate_coding(accept_encoding) is expected


class TestWholeBodies:
    @pytest.mark.parametrize(
        ("accept_encoding", "coding"), [(b"br", b"br"), (b"gzip", b"gzip"), (b"br, gzip", b"br")]
    )
    async def test_compresses_a_body_over_the_threshold_with_an_exact_length(
        self, accept_encoding: bytes, coding: bytes
    ) -> None:
        sent = await run(answering(TEXT), accept_encoding)
        headers = headers_of(sent)
        assert headers[b"content-encoding"] == coding
        assert headers[b"vary"] == b"Accept-Encoding"
        assert int(headers[b"content-length"]) == len(body_of(sent)) < len(TEXT)
        assert decoded(sent) == TEXT
        assert len(sent) == 2

    @pytest.mark.parametrize(("size", "compressed"), [(1023, False), (1024, False), (1025, True)])
    async def test_only_bodies_above_one_kib_are_compressed(
        self, size: int, compressed: bool
    ) -> None:
        body = TEXT[:size]
        sent = await run(answering(body))
        headers = headers_of(sent)
        assert (b"content-encoding" in headers) is compressed
        assert headers[b"vary"] == b"Accept-Encoding"
        assert decoded(sent) == body
        if not compressed:
            assert headers[b"content-length"] == str(size).encode()

    async def test_a_client_without_br_or_gzip_gets_identity_and_vary(self) -> None:
        for accept_encoding in (None, b"identity", b"gzip;q=0, br;q=0"):
            sent = await run(answering(TEXT), accept_encoding)
            headers = headers_of(sent)
            assert b"content-encoding" not in headers
            assert headers[b"vary"] == b"Accept-Encoding"
            assert body_of(sent) == TEXT

    async def test_a_body_compression_would_not_shrink_goes_out_as_it_was(self) -> None:
        noise = os.urandom(4096)
        sent = await run(answering(noise, content_type=b"text/plain"))
        headers = headers_of(sent)
        assert b"content-encoding" not in headers
        assert headers[b"content-length"] == b"4096"
        assert headers[b"vary"] == b"Accept-Encoding"
        assert body_of(sent) == noise

    @pytest.mark.parametrize(
        "content_type",
        [
            b"image/png",
            b"image/jpeg",
            b"video/mp4",
            b"audio/ogg",
            b"application/zip",
            b"application/gzip",
            b"application/x-brotli",
            b"font/woff2",
            b"application/octet-stream",
            b"IMAGE/WEBP; foo=bar",
        ],
    )
    async def test_never_compresses_media_that_is_compressed_already(
        self, content_type: bytes
    ) -> None:
        sent = await run(answering(TEXT, content_type=content_type))
        headers = headers_of(sent)
        assert b"content-encoding" not in headers
        assert b"vary" not in headers
        assert body_of(sent) == TEXT

    @pytest.mark.parametrize(
        "content_type",
        [b"text/html; charset=utf-8", b"application/problem+json", b"image/svg+xml", b"text/csv"],
    )
    async def test_compresses_text_of_any_kind(self, content_type: bytes) -> None:
        sent = await run(answering(TEXT, content_type=content_type), b"gzip")
        assert headers_of(sent)[b"content-encoding"] == b"gzip"
        assert decoded(sent) == TEXT

    async def test_leaves_a_body_without_a_content_type_alone(self) -> None:
        sent = await run(answering(TEXT, content_type=None))
        assert b"content-encoding" not in headers_of(sent)
        assert b"vary" not in headers_of(sent)

    async def test_never_encodes_twice(self) -> None:
        already = gzip.compress(TEXT)
        app = answering(already, headers=[(b"content-encoding", b"gzip")])
        sent = await run(app, b"br")
        headers = headers_of(sent)
        assert headers[b"content-encoding"] == b"gzip"
        assert b"vary" not in headers
        assert body_of(sent) == already

    async def test_honours_no_transform(self) -> None:
        app = answering(TEXT, headers=[(b"cache-control", b"private, no-transform")])
        sent = await run(app)
        assert b"content-encoding" not in headers_of(sent)
        assert body_of(sent) == TEXT

    async def test_leaves_a_range_alone(self) -> None:
        app = answering(TEXT, status=206, headers=[(b"content-range", b"bytes 0-99/999")])
        assert b"content-encoding" not in headers_of(await run(app))


class TestNoBody:
    async def test_head_is_never_compressed_but_varies_like_get(self) -> None:
        sent = await run(answering(TEXT), method="HEAD")
        headers = headers_of(sent)
        assert b"content-encoding" not in headers
        assert headers[b"content-length"] == str(len(TEXT)).encode()
        assert headers[b"vary"] == b"Accept-Encoding"

    async def test_304_passes_with_vary_as_its_200_would_have(self) -> None:
        sent = await run(answering(b"", content_type=None, status=304))
        headers = headers_of(sent)
        assert b"content-encoding" not in headers
        assert headers[b"vary"] == b"Accept-Encoding"

    async def test_204_passes_untouched(self) -> None:
        sent = await run(answering(b"", status=204))
        headers = headers_of(sent)
        assert b"content-encoding" not in headers
        assert b"vary" not in headers


class TestVary:
    @pytest.mark.parametrize(
        ("existing", "expected"),
        [
            (b"Authorization, X-API-Key", b"Authorization, X-API-Key, Accept-Encoding"),
            (b"accept-encoding", b"accept-encoding"),
            (b"Origin, Accept-Encoding", b"Origin, Accept-Encoding"),
            (b"*", b"*"),
        ],
    )
    async def test_merges_into_an_existing_vary(self, existing: bytes, expected: bytes) -> None:
        sent = await run(answering(TEXT, headers=[(b"vary", existing)]))
        varies = [value for name, value in sent[0]["headers"] if name == b"vary"]
        assert varies == [expected]


class TestStreams:
    async def test_a_stream_over_the_threshold_is_compressed_as_it_comes(self) -> None:
        chunks = [TEXT[n : n + 300] for n in range(0, 3000, 300)]
        sent = await run(answering(chunks), b"gzip")
        headers = headers_of(sent)
        assert headers[b"content-encoding"] == b"gzip"
        assert b"content-length" not in headers, "the server frames a stream itself"
        bodies = sent[1:]
        # Four chunks (1200 bytes) make the first KiB; each later chunk goes out on its own.
        assert len(bodies) == 1 + 6
        assert all(m["more_body"] for m in bodies[:-1])
        assert decoded(sent) == b"".join(chunks)

    async def test_every_chunk_of_a_stream_can_be_decoded_on_arrival(self) -> None:
        chunks = [TEXT[:2000], b"second piece " * 10, b"third piece " * 10, b""]
        sent = await run(answering(chunks), b"gzip")
        reader = zlib.decompressobj(31)
        arrived = [reader.decompress(m["body"]) for m in sent[1:]]
        assert arrived[:3] == chunks[:3], "a sync flush ends every chunk"

    async def test_a_brotli_stream_decodes_to_the_original(self) -> None:
        chunks = [TEXT[n : n + 700] for n in range(0, 7000, 700)]
        sent = await run(answering(chunks), b"br")
        assert headers_of(sent)[b"content-encoding"] == b"br"
        assert decoded(sent) == b"".join(chunks)

    async def test_a_short_stream_is_sent_whole_and_uncompressed(self) -> None:
        chunks = [b"a" * 300, b"b" * 300, b"c" * 300]
        sent = await run(answering(chunks))
        headers = headers_of(sent)
        assert b"content-encoding" not in headers
        assert headers[b"content-length"] == b"900"
        assert len(sent) == 2
        assert body_of(sent) == b"".join(chunks)

    async def test_server_sent_events_are_never_held_back(self) -> None:
        events = [b"data: 1\n\n", b"data: 2\n\n", b"data: 3\n\n"]
        sent = await run(answering(events, content_type=b"text/event-stream"))
        assert b"content-encoding" not in headers_of(sent)
        assert [m["body"] for m in sent[1:]] == events

    async def test_a_message_other_than_a_body_mid_stream_passes_through(self) -> None:
        async def trailing_app(scope: Scope, receive: Receive, send: Send) -> None:
            headers = [(b"content-type", b"text/plain")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": TEXT[:2000], "more_body": True})
            await send({"type": "http.response.trailers", "headers": [], "more_trailers": False})
            await send({"type": "http.response.body", "body": TEXT[2000:4000]})

        sent = await run(trailing_app, b"gzip")
        kinds = [m["type"] for m in sent]
        assert kinds.count("http.response.start") == 1
        assert "http.response.trailers" in kinds
        bodies = [m["body"] for m in sent if m["type"] == "http.response.body"]
        assert gzip.decompress(b"".join(bodies)) == TEXT[:4000]

    async def test_a_message_other_than_a_body_releases_the_response_unchanged(self) -> None:
        async def pathsend_app(scope: Scope, receive: Receive, send: Send) -> None:
            headers = [(b"content-type", b"text/plain"), (b"content-length", b"5000")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.pathsend", "path": "/srv/file.txt"})

        sent = await run(pathsend_app)
        assert b"content-encoding" not in headers_of(sent)
        assert headers_of(sent)[b"content-length"] == b"5000"
        assert [m["type"] for m in sent] == ["http.response.start", "http.response.pathsend"]


class TestConstruction:
    def test_refuses_a_negative_threshold(self) -> None:
        with pytest.raises(ValueError, match="threshold_bytes"):
            CompressionMiddleware(answering(b""), threshold_bytes=-1)

    async def test_passes_other_scopes_through(self) -> None:
        seen: list[str] = []

        async def lifespan_app(scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(scope["type"])

        async def nothing() -> Message:
            return {}

        async def ignore(message: Message) -> None:
            return None

        await CompressionMiddleware(lifespan_app)({"type": "lifespan"}, nothing, ignore)
        assert seen == ["lifespan"]

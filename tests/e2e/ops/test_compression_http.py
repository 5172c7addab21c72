"""Response compression through the whole app (capabilities §1.7): br and gzip as the client
accepts them, q=0, small bodies, compressed media, HEAD, Vary, exact Content-Length."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import brotli
import httpx
import pytest
from fastapi import APIRouter
from starlette.responses import Response, StreamingResponse

from bazaar.testing.app import AppHarness, running_app

probe_router = APIRouter()
# Not a real PNG, but a body that would compress well: only the media type keeps it whole.
PICTURE = b"\x89PNG" + b"\x00" * 8192
ROWS = [b'{"sku": "%d", "name": "Cast Iron Pan", "price": "19.99"}\n' % n for n in range(400)]


@probe_router.get("/api/v1/probe/picture")
async def picture() -> Response:
    return Response(PICTURE, media_type="image/png")


@probe_router.get("/api/v1/probe/export")
async def export() -> StreamingResponse:
    async def rows() -> AsyncIterator[bytes]:
        for row in ROWS:
            yield row

    return StreamingResponse(rows(), media_type="application/x-ndjson")


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[AppHarness]:
    async with running_app(data_dir=tmp_path, demo=True) as harness:
        app = harness.client._transport.app  # type: ignore[attr-defined]
        app.include_router(probe_router)
        yield harness


async def raw_get(
    client: httpx.AsyncClient, path: str, accept_encoding: str, method: str = "GET"
) -> tuple[httpx.Response, bytes]:
    """The response and its body as sent, before any content decoding."""
    headers = {"accept-encoding": accept_encoding}
    async with client.stream(method, path, headers=headers) as response:
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    return response, raw


def varies_on_encoding(response: httpx.Response) -> bool:
    tokens = [t.strip().lower() for t in response.headers.get("vary", "").split(",")]
    return "accept-encoding" in tokens


class TestCompression:
    @pytest.mark.parametrize(
        ("accept_encoding", "coding"),
        [
            ("br", "br"),
            ("gzip", "gzip"),
            ("gzip, deflate, br, zstd", "br"),
            ("br;q=0.5, gzip", "gzip"),
            ("br;q=0, gzip;q=0.1", "gzip"),
        ],
    )
    async def test_a_large_json_answer_is_compressed_as_the_client_prefers(
        self, harness: AppHarness, accept_encoding: str, coding: str
    ) -> None:
        plain, original = await raw_get(harness.client, "/openapi.json", "identity")
        response, raw = await raw_get(harness.client, "/openapi.json", accept_encoding)
        assert response.headers["content-encoding"] == coding
        assert int(response.headers["content-length"]) == len(raw) < len(original) // 4
        assert varies_on_encoding(response)
        decode = brotli.decompress if coding == "br" else gzip.decompress
        assert decode(raw) == original
        assert "content-encoding" not in plain.headers
        assert int(plain.headers["content-length"]) == len(original)
        assert varies_on_encoding(plain)

    @pytest.mark.parametrize("accept_encoding", ["identity", "br;q=0, gzip;q=0", "deflate", ""])
    async def test_nothing_acceptable_means_identity(
        self, harness: AppHarness, accept_encoding: str
    ) -> None:
        response, raw = await raw_get(harness.client, "/openapi.json", accept_encoding)
        assert "content-encoding" not in response.headers
        assert int(response.headers["content-length"]) == len(raw)
        assert raw.startswith(b'{"openapi"')
        assert varies_on_encoding(response)

    async def test_a_small_answer_is_not_compressed(self, harness: AppHarness) -> None:
        response, raw = await raw_get(harness.client, "/healthz", "br, gzip")
        assert "content-encoding" not in response.headers
        assert raw == b'{"status":"ok"}'
        assert varies_on_encoding(response)

    async def test_a_small_problem_is_not_compressed(self, harness: AppHarness) -> None:
        response, raw = await raw_get(harness.client, "/api/v1/no-such-route", "br, gzip")
        assert response.status_code == 404
        assert "content-encoding" not in response.headers
        assert raw.startswith(b"{")

    async def test_an_image_is_never_compressed(self, harness: AppHarness) -> None:
        response, raw = await raw_get(harness.client, "/api/v1/probe/picture", "br, gzip")
        assert "content-encoding" not in response.headers
        assert "vary" not in response.headers
        assert raw == PICTURE
        assert int(response.headers["content-length"]) == len(PICTURE)

    async def test_head_is_never_compressed(self, harness: AppHarness) -> None:
        get, _ = await raw_get(harness.client, "/openapi.json", "identity")
        head, body = await raw_get(harness.client, "/openapi.json", "br, gzip", method="HEAD")
        assert head.status_code == 200
        assert body == b""
        assert "content-encoding" not in head.headers
        assert head.headers["content-length"] == get.headers["content-length"]
        assert varies_on_encoding(head)

    async def test_a_streamed_answer_is_compressed_as_it_streams(self, harness: AppHarness) -> None:
        response, raw = await raw_get(harness.client, "/api/v1/probe/export", "gzip")
        assert response.headers["content-encoding"] == "gzip"
        assert "content-length" not in response.headers
        assert gzip.decompress(raw) == b"".join(ROWS)

    async def test_the_client_reads_the_same_json_whatever_the_encoding(
        self, harness: AppHarness
    ) -> None:
        plain = await harness.client.get("/openapi.json", headers={"accept-encoding": "identity"})
        for coding in ("br", "gzip"):
            response = await harness.client.get(
                "/openapi.json", headers={"accept-encoding": coding}
            )
            assert response.headers["content-encoding"] == coding
            assert response.json() == plain.json()

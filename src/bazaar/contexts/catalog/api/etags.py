"""Entity tags of products and the conditional headers that carry them (RFC 9110 §8.8.3, §13.1).

A product's ETag is strong and made of its id and version: ``"<id>-v<version>"``. Every
write bumps the version, so the tag changes with every change a merchant makes. Stock is
the exception, on purpose: it is inventory's live figure, shown inside the product but
not versioned by it (a checkout moves it constantly, and a merchant's edit of a
description must not fail with 412 because a customer bought one meanwhile). A client
that needs current stock reads it without ``If-None-Match`` or from ``PUT …/stock``.

- ``If-None-Match`` (GET) uses the weak comparison: ``W/"…"`` matches too; ``*`` matches.
- ``If-Match`` (PATCH, DELETE) uses the strong comparison: weak tags never match; ``*``
  matches any version of an existing product. It is required on product writes (428).
"""

from __future__ import annotations

import re

from bazaar.api.problems import ProblemError

__all__ = ["expected_versions", "if_none_match_hits", "product_etag"]

_TAG = re.compile(r'^"(\d{1,19})-v(\d{1,10})"$')
# Bounds the work a hostile header can cause (a list of thousands of tags).
_MAX_HEADER = 2048
_MAX_TAGS = 32


def product_etag(product_id: int, version: int) -> str:
    return f'"{product_id}-v{version}"'


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header[:_MAX_HEADER].split(",")][:_MAX_TAGS]


def if_none_match_hits(header: str | None, etag: str) -> bool:
    """True when ``If-None-Match`` names ``etag`` (weak comparison) or is ``*``."""
    if header is None:
        return False
    return any(tag == "*" or tag.removeprefix("W/") == etag for tag in _tags(header))


def expected_versions(header: str | None, product_id: int) -> frozenset[int] | None:
    """The versions ``If-Match`` accepts for this product; None for ``*`` (any version).

    Tags of other products, weak tags and malformed tags accept nothing, so a write
    carrying only those fails its precondition (412) on an existing product.

    Raises:
        ProblemError: 428 ``precondition-required`` when the header is missing.
    """
    if header is None or not header.strip():
        raise ProblemError(
            428,
            "precondition-required",
            "Send If-Match with the product's ETag (from GET) so that concurrent edits "
            "are not lost.",
        )
    versions: set[int] = set()
    for tag in _tags(header):
        if tag == "*":
            return None
        match = _TAG.match(tag)
        if match is not None and int(match.group(1)) == product_id:
            versions.add(int(match.group(2)))
    return frozenset(versions)

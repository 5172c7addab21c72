"""Base62 encoding of non-negative integers, with a fixed-width form that sorts like the numbers."""

from __future__ import annotations

from bazaar.kernel.ids.errors import InvalidBase62Error

__all__ = ["ALPHABET", "FIXED_WIDTH", "decode", "encode", "encode_fixed"]

# Digits, then upper case, then lower case: that is ascending code-point order, so
# equal-width strings compare like the numbers they encode (under a binary / "C" collation;
# a case-insensitive database collation would not keep that order).
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE = len(ALPHABET)
_VALUES = {ch: value for value, ch in enumerate(ALPHABET)}

# 62**11 > 2**64, so every unsigned 64-bit integer (and so every snowflake id) fits 11 chars.
FIXED_WIDTH = 11


def encode(n: int) -> str:
    """Encode a non-negative integer in base62, without padding.

    Args:
        n: The integer to encode; any size.

    Returns:
        The shortest base62 text for ``n``; ``"0"`` for zero.

    Raises:
        ValueError: If ``n`` is negative.
    """
    if n < 0:
        raise ValueError(f"base62 encodes non-negative integers only, got {n}")
    if n == 0:
        return "0"
    digits: list[str] = []
    while n:
        n, remainder = divmod(n, _BASE)
        digits.append(ALPHABET[remainder])
    return "".join(reversed(digits))


def encode_fixed(n: int, width: int = FIXED_WIDTH) -> str:
    """Encode a non-negative integer in base62, left-padded with ``"0"`` to ``width`` chars.

    Strings of one width sort in the same order as the integers they encode, which is what
    makes encoded snowflake ids usable as sortable keys.

    Args:
        n: The integer to encode.
        width: The length of the result; the default fits any 64-bit integer.

    Returns:
        Exactly ``width`` characters of base62 text.

    Raises:
        ValueError: If ``n`` is negative, ``width`` is less than 1, or ``n`` needs more than
            ``width`` characters.
    """
    if width < 1:
        raise ValueError(f"width must be at least 1, got {width}")
    text = encode(n)
    if len(text) > width:
        raise ValueError(f"{n} needs {len(text)} base62 characters, more than width {width}")
    return text.rjust(width, "0")


def decode(s: str) -> int:
    """Decode base62 text, padded or not, into the integer it encodes.

    Args:
        s: Text made only of ``0-9A-Za-z``; leading ``"0"`` padding is allowed.

    Returns:
        The non-negative integer ``s`` encodes.

    Raises:
        InvalidBase62Error: If ``s`` is empty or holds a character outside the alphabet.
    """
    if not s:
        raise InvalidBase62Error(s)
    n = 0
    try:
        for ch in s:
            n = n * _BASE + _VALUES[ch]
    except KeyError:
        raise InvalidBase62Error(s) from None
    return n

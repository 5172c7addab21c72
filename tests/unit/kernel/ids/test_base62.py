"""Tests for base62 encoding: alphabet order, padding, errors and round-trip properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bazaar.kernel.errors import KernelError
from bazaar.kernel.ids import IdError, InvalidBase62Error, base62
from bazaar.kernel.ids.base62 import ALPHABET, FIXED_WIDTH, decode, encode, encode_fixed

UINT64 = st.integers(min_value=0, max_value=2**64 - 1)


class TestBase62:
    def test_alphabet_is_digits_then_upper_then_lower_in_code_point_order(self) -> None:
        assert ALPHABET == "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        assert list(ALPHABET) == sorted(ALPHABET)

    def test_zero_encodes_as_a_single_zero(self) -> None:
        assert encode(0) == "0"

    @pytest.mark.parametrize(
        ("n", "text"),
        [(1, "1"), (9, "9"), (10, "A"), (35, "Z"), (36, "a"), (61, "z"), (62, "10"), (3843, "zz")],
    )
    def test_known_values_encode_to_known_text(self, n: int, text: str) -> None:
        assert encode(n) == text
        assert decode(text) == n

    def test_largest_64_bit_integer_fits_the_fixed_width(self) -> None:
        text = encode_fixed(2**64 - 1)
        assert len(text) == FIXED_WIDTH == 11
        assert decode(text) == 2**64 - 1

    def test_fixed_width_encoding_is_left_padded_with_zeros(self) -> None:
        assert encode_fixed(0) == "00000000000"
        assert encode_fixed(62, width=4) == "0010"

    def test_decode_accepts_leading_zero_padding(self) -> None:
        assert decode("0000A") == 10

    def test_negative_integer_is_refused(self) -> None:
        with pytest.raises(ValueError, match="non-negative"):
            encode(-1)
        with pytest.raises(ValueError, match="non-negative"):
            encode_fixed(-1)

    def test_integer_too_wide_for_the_fixed_width_is_refused(self) -> None:
        with pytest.raises(ValueError, match="more than width 2"):
            encode_fixed(62**2, width=2)

    def test_width_below_one_is_refused(self) -> None:
        with pytest.raises(ValueError, match="at least 1"):
            encode_fixed(1, width=0)

    def test_empty_text_is_refused(self) -> None:
        with pytest.raises(InvalidBase62Error, match="empty") as excinfo:
            decode("")
        assert excinfo.value.text == ""

    @pytest.mark.parametrize("text", ["abc-def", " 1", "1 ", "+1", "-1", "é", "\u0661", "AZ_z"])
    def test_characters_outside_the_alphabet_are_refused(self, text: str) -> None:
        with pytest.raises(InvalidBase62Error) as excinfo:
            decode(text)
        assert excinfo.value.text == text

    def test_invalid_base62_error_sits_in_the_kernel_error_tree(self) -> None:
        assert issubclass(InvalidBase62Error, IdError)
        assert issubclass(IdError, KernelError)

    def test_module_is_reachable_from_the_package(self) -> None:
        assert base62.encode is encode

    @given(UINT64)
    def test_roundtrip_for_every_64_bit_integer(self, n: int) -> None:
        assert decode(encode(n)) == n
        assert decode(encode_fixed(n)) == n

    @given(st.integers(min_value=0))
    def test_encoding_is_the_shortest_form(self, n: int) -> None:
        text = encode(n)
        assert text == "0" or not text.startswith("0")

    @given(UINT64, UINT64)
    def test_fixed_width_encoding_order_matches_numeric_order(self, a: int, b: int) -> None:
        ea, eb = encode_fixed(a), encode_fixed(b)
        assert (ea < eb) == (a < b)
        assert (ea == eb) == (a == b)

    @given(st.text(alphabet=ALPHABET, min_size=1, max_size=30))
    def test_any_text_over_the_alphabet_decodes(self, text: str) -> None:
        assert encode(decode(text)) == (text.lstrip("0") or "0")

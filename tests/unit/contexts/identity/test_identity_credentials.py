"""Credential rules: email normalization, password policy, refresh-token and API-key formats."""

from __future__ import annotations

import pytest

from bazaar.contexts.identity import ApiKeyInvalidError, InvalidEmailError, PasswordPolicyError
from bazaar.contexts.identity.domain.credentials import (
    check_name,
    check_password_policy,
    hash_secret,
    is_refresh_token,
    new_api_key,
    new_refresh_token,
    normalize_email,
    parse_api_key_prefix,
    secret_matches,
)
from bazaar.contexts.identity.domain.errors import InvalidNameError


class TestNormalizeEmail:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("Alice@Example.COM", "alice@example.com"),
            ("  bob@example.org \n", "bob@example.org"),
            ("first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk"),
            ("o'brien@example.ie", "o'brien@example.ie"),
            ("x@a-b.example", "x@a-b.example"),
        ],
    )
    def test_accepts_and_canonicalizes(self, raw: str, expected: str) -> None:
        assert normalize_email(raw) == expected

    @pytest.mark.parametrize(
        "raw",
        [
            "",
            "plainaddress",
            "@example.com",
            "user@",
            "user@localhost",
            "user@@example.com",
            "user@example..com",
            ".user@example.com",
            "user.@example.com",
            "us..er@example.com",
            "user@-example.com",
            "user@example-.com",
            "user name@example.com",
            "user@exa mple.com",
            "usér@example.com",
            "user@example.c",
            '"quoted"@example.com',
            "user@[127.0.0.1]",
        ],
    )
    def test_rejects_malformed_addresses(self, raw: str) -> None:
        with pytest.raises(InvalidEmailError):
            normalize_email(raw)

    def test_rejects_addresses_longer_than_254(self) -> None:
        domain = ".".join(["a" * 60] * 4) + ".com"  # 247 characters
        assert len("abcdef@" + domain) == 254
        assert normalize_email("abcdef@" + domain)
        with pytest.raises(InvalidEmailError):
            normalize_email("abcdefg@" + domain)

    def test_rejects_a_local_part_longer_than_64(self) -> None:
        assert normalize_email("a" * 64 + "@example.com")
        with pytest.raises(InvalidEmailError):
            normalize_email("a" * 65 + "@example.com")


class TestPasswordPolicy:
    @pytest.mark.parametrize("length", [12, 13, 255, 256])
    def test_accepts_lengths_from_12_to_256(self, length: int) -> None:
        check_password_policy("p" * length)

    @pytest.mark.parametrize("length", [0, 1, 11, 257, 10_000])
    def test_refuses_lengths_outside_12_to_256(self, length: int) -> None:
        with pytest.raises(PasswordPolicyError) as caught:
            check_password_policy("p" * length)
        assert caught.value.field == "password"

    def test_counts_characters_not_bytes(self) -> None:
        check_password_policy("é" * 12)  # 24 bytes in UTF-8, 12 characters


class TestNames:
    def test_strips_and_keeps_a_name(self) -> None:
        assert check_name("name", "  Acme  ") == "Acme"

    @pytest.mark.parametrize("raw", ["", "   ", "x" * 101])
    def test_refuses_empty_or_long_names(self, raw: str) -> None:
        with pytest.raises(InvalidNameError):
            check_name("name", raw)


class TestRefreshTokenFormat:
    def test_new_tokens_are_prefixed_and_unique(self) -> None:
        tokens = {new_refresh_token() for _ in range(100)}
        assert len(tokens) == 100
        assert all(t.startswith("rt_") and is_refresh_token(t) for t in tokens)

    @pytest.mark.parametrize("value", ["", "rt_", "rt_short", "xx_" + "a" * 43, "rt_" + "a" * 44])
    def test_rejects_other_shapes(self, value: str) -> None:
        assert not is_refresh_token(value)


class TestApiKeyFormat:
    def test_key_has_the_live_prefix_and_a_lookup_prefix(self) -> None:
        made = new_api_key()
        assert made.key.startswith(f"bz_live_{made.prefix}_")
        assert len(made.prefix) == 8
        assert parse_api_key_prefix(made.key) == made.prefix

    def test_repr_hides_the_key(self) -> None:
        made = new_api_key()
        assert made.key not in repr(made)

    @pytest.mark.parametrize(
        "value", ["", "bz_live_", "bz_test_abcdefgh_" + "a" * 43, "bz_live_abc_" + "a" * 43]
    )
    def test_malformed_keys_are_invalid(self, value: str) -> None:
        with pytest.raises(ApiKeyInvalidError):
            parse_api_key_prefix(value)


class TestSecretHashing:
    def test_matches_only_the_same_secret(self) -> None:
        stored = hash_secret("rt_secret")
        assert secret_matches(stored, "rt_secret")
        assert not secret_matches(stored, "rt_secreT")

    def test_hash_is_sha256_hex(self) -> None:
        assert len(hash_secret("x")) == 64

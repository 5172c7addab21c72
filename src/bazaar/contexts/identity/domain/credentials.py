"""Credential rules: email form, password policy, refresh-token and API-key formats."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass

from bazaar.contexts.identity.domain.errors import (
    ApiKeyInvalidError,
    InvalidEmailError,
    InvalidNameError,
    InvalidPlanError,
    PasswordPolicyError,
)

__all__ = [
    "API_KEY_PREFIX",
    "API_KEY_PREFIX_LENGTH",
    "EMAIL_MAX_LENGTH",
    "NAME_MAX_LENGTH",
    "PASSWORD_MAX_LENGTH",
    "PASSWORD_MIN_LENGTH",
    "REFRESH_TOKEN_PREFIX",
    "NewApiKey",
    "check_name",
    "check_password_policy",
    "check_plan",
    "hash_secret",
    "is_refresh_token",
    "new_api_key",
    "new_refresh_token",
    "normalize_email",
    "parse_api_key_prefix",
    "secret_matches",
]

EMAIL_MAX_LENGTH = 254  # RFC 5321 path limit (256) less the angle brackets
_LOCAL_MAX_LENGTH = 64
# RFC 5322 dot-atom local part, and a domain of LDH labels with an alphabetic TLD. Quoted
# local parts and IP-literal domains are legal but refused: no mailbox we send to uses them.
_EMAIL = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)
# NIST SP 800-63B §5.1.1.2: length is what matters; no composition rules, but a cap so that
# hashing cost stays bounded.
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 256
NAME_MAX_LENGTH = 100

REFRESH_TOKEN_PREFIX = "rt_"
_REFRESH_TOKEN = re.compile(r"rt_[A-Za-z0-9_-]{43}")
API_KEY_PREFIX = "bz_live_"
API_KEY_PREFIX_LENGTH = 8
# The prefix is a lookup handle shown in listings; underscores are the field separator.
_PREFIX_ALPHABET = string.ascii_letters + string.digits
_API_KEY = re.compile(r"bz_live_([A-Za-z0-9]{8})_[A-Za-z0-9_-]{43}")


def normalize_email(raw: str) -> str:
    """The canonical form of an email address: stripped and lower-cased.

    Raises:
        InvalidEmailError: not an address of the accepted form, or longer than 254.
    """
    email = raw.strip().lower()
    local, _, _domain = email.partition("@")
    if (
        len(email) > EMAIL_MAX_LENGTH
        or len(local) > _LOCAL_MAX_LENGTH
        or not email.isascii()
        or _EMAIL.fullmatch(email) is None
    ):
        raise InvalidEmailError(raw)
    return email


def check_password_policy(password: str) -> None:
    """Raises:
    PasswordPolicyError: shorter than 12 or longer than 256 characters.
    """
    if len(password) < PASSWORD_MIN_LENGTH:
        raise PasswordPolicyError(f"must be at least {PASSWORD_MIN_LENGTH} characters")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise PasswordPolicyError(f"must be at most {PASSWORD_MAX_LENGTH} characters")


def check_name(field: str, raw: str) -> str:
    """A display name, stripped, 1..100 characters.

    Raises:
        InvalidNameError: empty or too long once stripped.
    """
    name = raw.strip()
    if not name:
        raise InvalidNameError(field, "must not be empty")
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidNameError(field, f"must be at most {NAME_MAX_LENGTH} characters")
    return name


_PLAN = re.compile(r"[a-z][a-z0-9_]{0,31}")


def check_plan(plan: str | None) -> str | None:
    """A tenant plan name (it names a ``plan_<plan>`` rate-limit policy), or None for none.

    Raises:
        InvalidPlanError: not 1..32 of ``a-z0-9_`` starting with a letter.
    """
    if plan is not None and not _PLAN.fullmatch(plan):
        raise InvalidPlanError(plan)
    return plan


def hash_secret(secret: str) -> str:
    """SHA-256 hex digest of a high-entropy secret.

    A fast hash is right here (unlike passwords): refresh tokens and API keys carry 256 bits
    of randomness, so there is nothing to brute-force and lookups stay cheap.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(stored_hash: str, presented: str) -> bool:
    """Constant-time comparison of a presented secret with a stored hash."""
    return hmac.compare_digest(stored_hash.encode(), hash_secret(presented).encode())


def new_refresh_token() -> str:
    """An opaque refresh token: ``rt_`` and 256 random bits, URL-safe."""
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)


def is_refresh_token(value: str) -> bool:
    return _REFRESH_TOKEN.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A freshly made API key: the full ``key`` is shown once, only its hash is stored."""

    key: str
    prefix: str

    def __repr__(self) -> str:
        return f"NewApiKey(prefix={self.prefix!r})"


def new_api_key() -> NewApiKey:
    """``bz_live_<8-char prefix>_<secret>``, the secret being 256 random bits."""
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(API_KEY_PREFIX_LENGTH))
    return NewApiKey(key=f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}", prefix=prefix)


def parse_api_key_prefix(key: str) -> str:
    """The lookup prefix of a well-formed key.

    Raises:
        ApiKeyInvalidError: the key does not have the ``bz_live_`` form.
    """
    match = _API_KEY.fullmatch(key)
    if match is None:
        raise ApiKeyInvalidError("malformed")
    return match.group(1)

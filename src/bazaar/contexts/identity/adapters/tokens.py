"""Access tokens as JWTs (RFC 7519) signed by the keyring, verified with the algorithm pinned."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from typing import Any

import jwt
import orjson

from bazaar.contexts.identity.application.ports import AccessClaims, IssuedAccessToken
from bazaar.contexts.identity.domain.access import Role
from bazaar.contexts.identity.domain.errors import TokenInvalidError
from bazaar.infra.keys import Keyring
from bazaar.kernel.cache import LruCache
from bazaar.kernel.clock import Clock

__all__ = ["MAX_TOKEN_LENGTH", "JwtTokenCodec"]

# A token of ours is ~400 bytes; anything far longer is refused before parsing.
MAX_TOKEN_LENGTH = 4096
# Verified tokens remembered, and for how long at most (see ``JwtTokenCodec.decode``).
VERIFIED_TOKENS_MAX = 10_000
VERIFIED_TOKEN_TTL_S = 60.0
_ID = re.compile(r"[0-9]{1,19}")
_REQUIRED = ["iss", "aud", "sub", "tid", "roles", "exp", "iat", "jti"]
# Most specific first: each PyJWT failure becomes a reason for logs and metrics.
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.InvalidSignatureError, "signature"),
    (jwt.InvalidAlgorithmError, "algorithm"),
    (jwt.InvalidAudienceError, "audience"),
    (jwt.InvalidIssuerError, "issuer"),
    (jwt.MissingRequiredClaimError, "claims"),
    (jwt.DecodeError, "malformed"),
    (jwt.InvalidTokenError, "claims"),
)


class JwtTokenCodec:
    """Adapter of the ``TokenCodec`` port over PyJWT.

    Verification defends against the classic JWT attacks (RFC 8725): the key is chosen by
    ``kid`` and the accepted algorithm is that key's own (so ``alg: none`` and HS/RS
    confusion fail), ``iss`` and ``aud`` must match, and expiry is checked against the
    injected clock rather than PyJWT's wall clock, so tests can move time.
    """

    def __init__(
        self, keyring: Keyring, *, issuer: str, audience: str, ttl_s: int, clock: Clock
    ) -> None:
        self._keyring = keyring
        self._issuer = issuer
        self._audience = audience
        self._ttl_s = ttl_s
        self._clock = clock
        # token -> (kid, claims) of tokens that passed verification: see ``decode``.
        self._verified: LruCache[str, tuple[str, AccessClaims]] = LruCache(
            VERIFIED_TOKENS_MAX, clock
        )

    def issue(self, *, user_id: int, tenant_id: int, role: Role) -> IssuedAccessToken:
        key = self._keyring.signing
        now = int(self._clock.now())
        token_id = secrets.token_hex(16)
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "tid": str(tenant_id),
            "roles": [role.value],
            "iat": now,
            "exp": now + self._ttl_s,
            "jti": token_id,
        }
        token = jwt.encode(
            claims, key.private_key, algorithm=key.algorithm, headers={"kid": key.kid}
        )
        return IssuedAccessToken(
            token=token, token_id=token_id, expires_at=now + self._ttl_s, expires_in=self._ttl_s
        )

    def decode(self, token: str) -> AccessClaims:
        """Verify ``token`` and return its claims.

        A client sends the same access token with every request, and verifying it (EdDSA
        signature, JSON, claims) costs ~0.3 ms of CPU, about as much as a warm product read
        itself. So the claims of a token that passed are remembered by the token's exact
        text for up to a minute: another token (one byte tampered) is another key and is
        verified in full. A remembered token is still refused once it expires on the clock
        or once its signing key leaves the keyring.
        """
        remembered = self._verified.get(token)
        if remembered is not None:
            remembered_kid, remembered_claims = remembered
            if (
                self._clock.now() < remembered_claims.expires_at
                and self._keyring.find(remembered_kid) is not None
            ):
                return remembered_claims
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenInvalidError("too_long")
        header = _unverified_header(token)
        kid = header.get("kid")
        key = self._keyring.find(kid) if isinstance(kid, str) else None
        if key is None:
            raise TokenInvalidError("unknown_kid")
        if header.get("alg") != key.algorithm:
            raise TokenInvalidError("algorithm")
        try:
            claims = jwt.decode(
                token,
                key.public_key,
                algorithms=[key.algorithm],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": _REQUIRED,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidTokenError as exc:
            raise TokenInvalidError(_reason(exc)) from exc
        checked = self._checked(claims)
        remaining_s = checked.expires_at - self._clock.now()
        self._verified.put(token, (key.kid, checked), min(remaining_s, VERIFIED_TOKEN_TTL_S))
        return checked

    def _checked(self, claims: dict[str, Any]) -> AccessClaims:
        exp, iat = claims["exp"], claims["iat"]
        if not isinstance(exp, int) or not isinstance(iat, int):
            raise TokenInvalidError("claims")
        if self._clock.now() >= exp:
            raise TokenInvalidError("expired")
        sub, tid, roles = claims["sub"], claims["tid"], claims["roles"]
        if not (isinstance(tid, str) and _ID.fullmatch(tid) and _ID.fullmatch(sub)):
            raise TokenInvalidError("claims")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise TokenInvalidError("claims")
        return AccessClaims(
            user_id=int(sub),
            tenant_id=int(tid),
            roles=tuple(roles),
            token_id=claims["jti"],
            issued_at=iat,
            expires_at=exp,
        )

    def jwks(self) -> dict[str, Any]:
        return self._keyring.jwks()


def _unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header, read only to pick the key; PyJWT then validates the whole token.

    Read here rather than with ``jwt.get_unverified_header``, which validates every segment
    once more before ``jwt.decode`` does it again: on the authentication hot path that
    doubled the parsing cost.
    """
    encoded, dot, _ = token.partition(".")
    if not dot:
        raise TokenInvalidError("malformed")
    try:
        header = orjson.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise TokenInvalidError("malformed") from exc
    if not isinstance(header, dict):
        raise TokenInvalidError("malformed")
    return header


def _reason(exc: jwt.InvalidTokenError) -> str:
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    return "invalid"

"""The JWT codec: round trips per algorithm, and every forged or stale token it must refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from bazaar.contexts.identity import Role, TokenInvalidError
from bazaar.contexts.identity.adapters import JwtTokenCodec
from bazaar.infra.keys import Keyring, load_keyring, write_signing_key
from bazaar.kernel.clock import ManualClock

SECRET = "s" * 48


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], sign: Any = None) -> str:
    """A compact JWS built by hand, signed by ``sign(signing_input)`` or unsigned."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = b"" if sign is None else sign(signing_input.encode())
    return f"{signing_input}.{b64(signature)}"


def make_codec(keyring: Keyring, clock: ManualClock, **overrides: Any) -> JwtTokenCodec:
    options: dict[str, Any] = {"issuer": "bazaar", "audience": "bazaar-api", "ttl_s": 900}
    options.update(overrides)
    return JwtTokenCodec(keyring, clock=clock, **options)


def pem_keyring(tmp_path: Path, private_key: Any) -> Keyring:
    path = tmp_path / "signing.pem"
    path.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return load_keyring(secret=None, private_key_file=path, keys_dir=tmp_path / "keys")


def valid_claims(clock: ManualClock) -> dict[str, Any]:
    now = int(clock.now())
    return {
        "iss": "bazaar",
        "aud": "bazaar-api",
        "sub": "42",
        "tid": "7",
        "roles": ["customer"],
        "iat": now,
        "exp": now + 900,
        "jti": "j" * 32,
    }


def reason(codec: JwtTokenCodec, token: str) -> str:
    with pytest.raises(TokenInvalidError) as caught:
        codec.decode(token)
    return caught.value.reason


class TestRoundTrip:
    def test_issued_token_carries_every_claim_and_the_kid(
        self, codec: JwtTokenCodec, keyring: Keyring
    ) -> None:
        issued = codec.issue(user_id=42, tenant_id=7, role=Role.MERCHANT)
        header = jwt.get_unverified_header(issued.token)
        claims = jwt.decode(issued.token, options={"verify_signature": False})
        assert header["kid"] == keyring.signing.kid
        assert header["alg"] == "EdDSA"
        assert set(claims) == {"iss", "aud", "sub", "tid", "roles", "exp", "iat", "jti"}
        assert claims["sub"] == "42"
        assert claims["tid"] == "7"
        assert claims["roles"] == ["merchant"]
        assert claims["exp"] - claims["iat"] == 900 == issued.expires_in

    def test_decode_returns_the_claims(self, codec: JwtTokenCodec, clock: ManualClock) -> None:
        issued = codec.issue(user_id=42, tenant_id=7, role=Role.ADMIN)
        claims = codec.decode(issued.token)
        assert (claims.user_id, claims.tenant_id, claims.roles) == (42, 7, ("admin",))
        assert claims.token_id == issued.token_id
        assert claims.expires_at == int(clock.now()) + 900

    def test_every_token_has_its_own_jti(self, codec: JwtTokenCodec) -> None:
        ids = {codec.issue(user_id=1, tenant_id=1, role=Role.CUSTOMER).token_id for _ in range(50)}
        assert len(ids) == 50

    @pytest.mark.parametrize(
        ("make_key", "algorithm"),
        [
            (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
            (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
            (ed25519.Ed25519PrivateKey.generate, "EdDSA"),
        ],
    )
    def test_pem_keys_sign_with_their_algorithm(
        self, tmp_path: Path, clock: ManualClock, make_key: Any, algorithm: str
    ) -> None:
        codec = make_codec(pem_keyring(tmp_path, make_key()), clock)
        token = codec.issue(user_id=1, tenant_id=2, role=Role.CUSTOMER).token
        assert jwt.get_unverified_header(token)["alg"] == algorithm
        assert codec.decode(token).user_id == 1

    def test_shared_secret_signs_hs256(self, tmp_path: Path, clock: ManualClock) -> None:
        keyring = load_keyring(secret=SECRET, private_key_file=None, keys_dir=tmp_path)
        codec = make_codec(keyring, clock)
        token = codec.issue(user_id=1, tenant_id=2, role=Role.CUSTOMER).token
        assert jwt.get_unverified_header(token)["alg"] == "HS256"
        assert codec.decode(token).tenant_id == 2


class TestExpiry:
    def test_valid_until_the_last_second(self, codec: JwtTokenCodec, clock: ManualClock) -> None:
        token = codec.issue(user_id=1, tenant_id=1, role=Role.CUSTOMER).token
        clock.advance(899)
        assert codec.decode(token).user_id == 1

    def test_expired_once_the_clock_reaches_exp(
        self, codec: JwtTokenCodec, clock: ManualClock
    ) -> None:
        token = codec.issue(user_id=1, tenant_id=1, role=Role.CUSTOMER).token
        clock.advance(900)
        assert reason(codec, token) == "expired"


class TestForgedTokens:
    def test_alg_none_is_refused(self, codec: JwtTokenCodec, keyring: Keyring) -> None:
        clock_claims = valid_claims(ManualClock(start=1_800_000_000))
        token = forge({"alg": "none", "typ": "JWT", "kid": keyring.signing.kid}, clock_claims)
        assert reason(codec, token) == "algorithm"

    def test_alg_none_without_kid_is_refused(
        self, codec: JwtTokenCodec, clock: ManualClock
    ) -> None:
        token = forge({"alg": "none", "typ": "JWT"}, valid_claims(clock))
        assert reason(codec, token) == "unknown_kid"

    def test_hs256_signed_with_the_rsa_public_key_is_refused(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        # The HS/RS confusion attack: the public key is public, so an attacker can HMAC with
        # it; a verifier that let the header pick the algorithm would accept the result.
        keyring = pem_keyring(
            tmp_path, rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
        codec = make_codec(keyring, clock)
        public_pem = keyring.signing.public_key.public_bytes(  # type: ignore[union-attr]
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        token = forge(
            {"alg": "HS256", "typ": "JWT", "kid": keyring.signing.kid},
            valid_claims(clock),
            lambda data: hmac.new(public_pem, data, hashlib.sha256).digest(),
        )
        assert reason(codec, token) == "algorithm"

    def test_header_naming_another_asymmetric_algorithm_is_refused(
        self, codec: JwtTokenCodec, keyring: Keyring, clock: ManualClock
    ) -> None:
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        token = jwt.encode(
            valid_claims(clock), other, algorithm="RS256", headers={"kid": keyring.signing.kid}
        )
        assert reason(codec, token) == "algorithm"

    def test_signature_of_another_key_with_the_same_kid_is_refused(
        self, codec: JwtTokenCodec, keyring: Keyring, clock: ManualClock
    ) -> None:
        impostor = ed25519.Ed25519PrivateKey.generate()
        token = jwt.encode(
            valid_claims(clock), impostor, algorithm="EdDSA", headers={"kid": keyring.signing.kid}
        )
        assert reason(codec, token) == "signature"

    def test_tampered_payload_is_refused(self, codec: JwtTokenCodec, clock: ManualClock) -> None:
        header, _payload, signature = codec.issue(
            user_id=1, tenant_id=1, role=Role.CUSTOMER
        ).token.split(".")
        claims = valid_claims(clock) | {"roles": ["admin"]}
        tampered = f"{header}.{b64(json.dumps(claims).encode())}.{signature}"
        assert reason(codec, tampered) == "signature"

    def test_unknown_kid_is_refused(
        self, tmp_path: Path, codec: JwtTokenCodec, clock: ManualClock
    ) -> None:
        stranger = make_codec(
            load_keyring(secret=None, private_key_file=None, keys_dir=tmp_path / "other"), clock
        )
        token = stranger.issue(user_id=1, tenant_id=1, role=Role.CUSTOMER).token
        assert reason(codec, token) == "unknown_kid"

    @pytest.mark.parametrize(
        ("field", "value", "expected"),
        [("aud", "someone-else", "audience"), ("iss", "evil", "issuer")],
    )
    def test_wrong_audience_or_issuer_is_refused(
        self, keyring: Keyring, clock: ManualClock, field: str, value: str, expected: str
    ) -> None:
        options = {"audience": value} if field == "aud" else {"issuer": value}
        foreign = make_codec(keyring, clock, **options)
        token = foreign.issue(user_id=1, tenant_id=1, role=Role.CUSTOMER).token
        assert reason(make_codec(keyring, clock), token) == expected

    @pytest.mark.parametrize("claim", ["jti", "sub", "tid", "exp", "roles"])
    def test_missing_claims_are_refused(
        self, tmp_path: Path, clock: ManualClock, claim: str
    ) -> None:
        keyring = load_keyring(secret=SECRET, private_key_file=None, keys_dir=tmp_path)
        claims = valid_claims(clock)
        del claims[claim]
        token = jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": keyring.signing.kid})
        assert reason(make_codec(keyring, clock), token) == "claims"

    def test_non_numeric_subject_is_refused(self, tmp_path: Path, clock: ManualClock) -> None:
        keyring = load_keyring(secret=SECRET, private_key_file=None, keys_dir=tmp_path)
        claims = valid_claims(clock) | {"sub": "admin"}
        token = jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": keyring.signing.kid})
        assert reason(make_codec(keyring, clock), token) == "claims"

    @pytest.mark.parametrize("token", ["", "abc", "a.b.c", "eyJ.eyJ.x"])
    def test_garbage_is_malformed(self, codec: JwtTokenCodec, token: str) -> None:
        assert reason(codec, token) == "malformed"

    def test_oversized_tokens_are_refused_before_parsing(self, codec: JwtTokenCodec) -> None:
        assert reason(codec, "a" * 5000) == "too_long"


class TestRotation:
    def test_tokens_of_the_previous_key_verify_after_rotation(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        keys_dir = tmp_path / "keys"
        before = make_codec(
            load_keyring(secret=None, private_key_file=None, keys_dir=keys_dir), clock
        )
        old_token = before.issue(user_id=1, tenant_id=1, role=Role.CUSTOMER).token
        write_signing_key(keys_dir)
        after_keyring = load_keyring(secret=None, private_key_file=None, keys_dir=keys_dir)
        after = make_codec(after_keyring, clock)
        new_token = after.issue(user_id=2, tenant_id=1, role=Role.CUSTOMER).token
        assert (
            jwt.get_unverified_header(new_token)["kid"]
            != jwt.get_unverified_header(old_token)["kid"]
        )
        assert after.decode(old_token).user_id == 1
        assert after.decode(new_token).user_id == 2


class TestRememberedTokens:
    """Verified tokens are remembered by their exact text; nothing else gets through."""

    def test_a_remembered_token_still_expires(
        self, codec: JwtTokenCodec, clock: ManualClock
    ) -> None:
        token = codec.issue(user_id=1, tenant_id=1, role=Role.CUSTOMER).token
        clock.advance(850)
        assert codec.decode(token).user_id == 1  # remembered, with 50 s left
        clock.advance(49)
        assert codec.decode(token).user_id == 1
        clock.advance(1)
        assert reason(codec, token) == "expired"

    def test_one_tampered_byte_is_verified_in_full(
        self, codec: JwtTokenCodec, clock: ManualClock
    ) -> None:
        token = codec.issue(user_id=1, tenant_id=1, role=Role.CUSTOMER).token
        codec.decode(token)
        header, payload, signature = token.split(".")
        claims = valid_claims(clock) | {"sub": "1", "tid": "1", "roles": ["admin"]}
        assert reason(codec, f"{header}.{b64(json.dumps(claims).encode())}.{signature}") == (
            "signature"
        )
        flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
        assert reason(codec, f"{header}.{payload}.{flipped}") == "signature"

    def test_a_remembered_token_of_a_withdrawn_key_is_refused(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        keyring = load_keyring(secret=None, private_key_file=None, keys_dir=tmp_path / "keys")
        verifying = dict(keyring.verifying)
        codec = make_codec(Keyring(signing=keyring.signing, verifying=verifying), clock)
        token = codec.issue(user_id=1, tenant_id=1, role=Role.CUSTOMER).token
        codec.decode(token)
        del verifying[keyring.signing.kid]
        assert reason(codec, token) == "unknown_kid"

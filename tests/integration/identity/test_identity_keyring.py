"""Signing keys on disk: generated once with mode 0600, reused, rotated, loaded from PEM."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from bazaar.infra.keys import load_keyring, write_signing_key
from bazaar.kernel.errors import ConfigurationError


def write_pem(path: Path, private_key: Any) -> Path:
    path.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def age(path: Path, seconds: int) -> None:
    """Make a key file look ``seconds`` older than now (rotation picks the newest)."""
    mtime = path.stat().st_mtime - seconds
    os.utime(path, (mtime, mtime))


class TestGeneratedKeys:
    def test_first_start_generates_an_ed25519_key_readable_only_by_the_owner(
        self, tmp_path: Path
    ) -> None:
        keyring = load_keyring(secret=None, private_key_file=None, keys_dir=tmp_path / "keys")
        path = tmp_path / "keys" / f"jwt-{keyring.signing.kid}.pem"
        assert keyring.signing.algorithm == "EdDSA"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700

    def test_later_starts_reuse_the_key(self, tmp_path: Path) -> None:
        first = load_keyring(secret=None, private_key_file=None, keys_dir=tmp_path)
        second = load_keyring(secret=None, private_key_file=None, keys_dir=tmp_path)
        assert first.signing.kid == second.signing.kid
        assert len(list(tmp_path.glob("jwt-*.pem"))) == 1

    def test_the_newest_key_signs_and_older_ones_verify(self, tmp_path: Path) -> None:
        old = load_keyring(secret=None, private_key_file=None, keys_dir=tmp_path).signing
        age(tmp_path / f"jwt-{old.kid}.pem", 3600)
        newer = write_signing_key(tmp_path)
        keyring = load_keyring(secret=None, private_key_file=None, keys_dir=tmp_path)
        assert newer.name == f"jwt-{keyring.signing.kid}.pem"
        assert keyring.find(old.kid) is not None
        assert {k["kid"] for k in keyring.jwks()["keys"]} == {old.kid, keyring.signing.kid}

    def test_jwks_publishes_only_public_material(self, tmp_path: Path) -> None:
        keyring = load_keyring(secret=None, private_key_file=None, keys_dir=tmp_path)
        (jwk,) = keyring.jwks()["keys"]
        assert jwk["kty"] == "OKP"
        assert jwk["crv"] == "Ed25519"
        assert jwk["alg"] == "EdDSA"
        assert jwk["use"] == "sig"
        assert "d" not in jwk


class TestConfiguredKeys:
    def test_secret_selects_hs256_with_a_derived_kid_and_no_jwks(self, tmp_path: Path) -> None:
        keyring = load_keyring(secret="x" * 40, private_key_file=None, keys_dir=tmp_path)
        assert keyring.signing.algorithm == "HS256"
        assert len(keyring.signing.kid) == 16
        assert keyring.jwks() == {"keys": []}
        assert not list(tmp_path.glob("jwt-*.pem"))

    @pytest.mark.parametrize(
        ("make_key", "algorithm", "kty"),
        [
            (
                lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
                "RS256",
                "RSA",
            ),
            (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256", "EC"),
            (ed25519.Ed25519PrivateKey.generate, "EdDSA", "OKP"),
        ],
    )
    def test_private_key_file_selects_the_algorithm_of_its_type(
        self, tmp_path: Path, make_key: Any, algorithm: str, kty: str
    ) -> None:
        pem = write_pem(tmp_path / "signing.pem", make_key())
        keyring = load_keyring(secret=None, private_key_file=pem, keys_dir=tmp_path / "keys")
        assert keyring.signing.algorithm == algorithm
        assert [k["kty"] for k in keyring.jwks()["keys"]] == [kty]

    def test_keys_in_the_data_dir_still_verify_beside_a_key_file(self, tmp_path: Path) -> None:
        generated = load_keyring(secret=None, private_key_file=None, keys_dir=tmp_path / "keys")
        pem = write_pem(tmp_path / "signing.pem", ed25519.Ed25519PrivateKey.generate())
        keyring = load_keyring(secret=None, private_key_file=pem, keys_dir=tmp_path / "keys")
        assert keyring.signing.kid != generated.signing.kid
        assert keyring.find(generated.signing.kid) is not None

    @pytest.mark.parametrize(
        "make_key",
        [
            lambda: ec.generate_private_key(ec.SECP384R1()),
            lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024),
        ],
    )
    def test_unsupported_keys_are_a_configuration_error(
        self, tmp_path: Path, make_key: Any
    ) -> None:
        pem = write_pem(tmp_path / "signing.pem", make_key())
        with pytest.raises(ConfigurationError) as caught:
            load_keyring(secret=None, private_key_file=pem, keys_dir=tmp_path / "keys")
        assert caught.value.key == "jwt_private_key_file"

    def test_unreadable_or_garbage_key_files_are_configuration_errors(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigurationError):
            load_keyring(
                secret=None, private_key_file=tmp_path / "missing.pem", keys_dir=tmp_path / "k"
            )
        garbage = tmp_path / "garbage.pem"
        garbage.write_text("not a key")
        with pytest.raises(ConfigurationError):
            load_keyring(secret=None, private_key_file=garbage, keys_dir=tmp_path / "k")

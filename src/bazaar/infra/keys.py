"""JWT signing keys: from settings or the data dir, generated on first start, rotated by file.

Where the signing key comes from, first match wins:

1. ``jwt_secret`` → HS256 with that secret (``kid`` = first 16 hex of its SHA-256);
2. ``jwt_private_key_file`` → that PEM (Ed25519 → EdDSA, RSA → RS256, EC P-256 → ES256);
3. the newest ``<data_dir>/keys/jwt-<kid>.pem``, or a new Ed25519 key written there.

In cases 2 and 3 every other ``jwt-*.pem`` in the keys directory still verifies: rotating is
dropping a newer file in (``write_signing_key``) and restarting; tokens signed with an older
key stay valid until they expire, and the older file can be removed after one token TTL.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from bazaar.kernel.errors import ConfigurationError

__all__ = ["Keyring", "SigningKey", "key_from_pem", "load_keyring", "write_signing_key"]

PrivateKey = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | rsa.RSAPublicKey | ec.EllipticCurvePublicKey

_KEY_GLOB = "jwt-*.pem"
_MIN_RSA_BITS = 2048


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One key of the keyring, with the one algorithm it may be used with (pinned)."""

    kid: str
    algorithm: str
    private_key: PrivateKey | bytes = field(repr=False)
    public_key: PublicKey | bytes = field(repr=False)

    @property
    def symmetric(self) -> bool:
        return isinstance(self.public_key, bytes)

    def public_jwk(self) -> dict[str, Any] | None:
        """The public key as a JWK (RFC 7517), or None for a shared secret."""
        key = self.public_key
        if isinstance(key, bytes):
            return None
        if isinstance(key, ed25519.Ed25519PublicKey):
            jwk = OKPAlgorithm.to_jwk(key, as_dict=True)
        elif isinstance(key, rsa.RSAPublicKey):
            jwk = RSAAlgorithm.to_jwk(key, as_dict=True)
        else:
            jwk = ECAlgorithm.to_jwk(key, as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}


@dataclass(frozen=True, slots=True)
class Keyring:
    """The key that signs new tokens and every key that may verify one, by ``kid``."""

    signing: SigningKey
    verifying: Mapping[str, SigningKey]

    def find(self, kid: str) -> SigningKey | None:
        return self.verifying.get(kid)

    def jwks(self) -> dict[str, Any]:
        """A JWK Set of the public keys; empty when tokens are signed with a shared secret."""
        keys = [jwk for key in self.verifying.values() if (jwk := key.public_jwk()) is not None]
        return {"keys": keys}


def hmac_key(secret: str) -> SigningKey:
    raw = secret.encode()
    return SigningKey(
        kid=hashlib.sha256(raw).hexdigest()[:16], algorithm="HS256", private_key=raw, public_key=raw
    )


def _kid(public_key: PublicKey) -> str:
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()[:16]


def key_from_pem(data: bytes, source: str) -> SigningKey:
    """A signing key from an unencrypted PEM private key.

    Raises:
        ConfigurationError: not a PEM private key, or a key type/size bazaar does not sign with.
    """
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(source, f"not an unencrypted PEM private key ({exc})") from exc
    if isinstance(private, ed25519.Ed25519PrivateKey):
        algorithm = "EdDSA"
    elif isinstance(private, rsa.RSAPrivateKey):
        if private.key_size < _MIN_RSA_BITS:
            raise ConfigurationError(source, f"RSA keys need at least {_MIN_RSA_BITS} bits")
        algorithm = "RS256"
    elif isinstance(private, ec.EllipticCurvePrivateKey) and isinstance(
        private.curve, ec.SECP256R1
    ):
        algorithm = "ES256"
    else:
        raise ConfigurationError(source, "use an Ed25519, RSA (>= 2048 bits) or EC P-256 key")
    public = private.public_key()
    return SigningKey(kid=_kid(public), algorithm=algorithm, private_key=private, public_key=public)


def write_signing_key(keys_dir: Path) -> Path:
    """Generate an Ed25519 key and write it as ``jwt-<kid>.pem`` (mode 0600); the new newest.

    The file is written under a temporary name and renamed, so a reader never sees half a key.
    """
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = keys_dir / f"jwt-{_kid(private.public_key())}.pem"
    partial = path.with_suffix(".pem.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
    return path


@contextlib.contextmanager
def _locked(keys_dir: Path) -> Iterator[None]:
    # Several API worker processes may start at once on an empty data dir; without the lock
    # each would generate its own key and reject the tokens of the others (unknown kid).
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(keys_dir / ".lock", "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _key_files(keys_dir: Path) -> list[Path]:
    """Key files, oldest first (modification time, then name to break ties)."""
    files = [p for p in keys_dir.glob(_KEY_GLOB) if p.is_file()]
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))


def _load_dir(keys_dir: Path) -> list[SigningKey]:
    return [key_from_pem(path.read_bytes(), str(path)) for path in _key_files(keys_dir)]


def load_keyring(*, secret: str | None, private_key_file: Path | None, keys_dir: Path) -> Keyring:
    """Build the keyring the settings ask for (see the module docstring for the order).

    Args:
        secret: ``jwt_secret``; selects HS256.
        private_key_file: ``jwt_private_key_file``; a PEM private key that signs.
        keys_dir: ``<data_dir>/keys``; generated and older keys live here.

    Raises:
        ConfigurationError: a key file cannot be read or is of an unsupported type.
    """
    if secret:
        key = hmac_key(secret)
        return Keyring(signing=key, verifying=MappingProxyType({key.kid: key}))
    with _locked(keys_dir):
        older = _load_dir(keys_dir)
        if private_key_file is not None:
            try:
                data = private_key_file.read_bytes()
            except OSError as exc:
                raise ConfigurationError("jwt_private_key_file", str(exc)) from exc
            signing = key_from_pem(data, "jwt_private_key_file")
        elif older:
            signing = older[-1]
        else:
            path = write_signing_key(keys_dir)
            signing = key_from_pem(path.read_bytes(), str(path))
    verifying = {key.kid: key for key in older}
    verifying[signing.kid] = signing
    return Keyring(signing=signing, verifying=MappingProxyType(verifying))

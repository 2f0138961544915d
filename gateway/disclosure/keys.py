"""The gateway's Ed25519 signing keys: a directory of keys, one of them active.

Layout: ``<dir>/<kid>.pem`` (PKCS#8, mode 0600) and ``<dir>/active`` naming the
kid that signs. Rotation adds a key and moves ``active``; old keys stay so that
what they signed still verifies against the JWKS.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from adapters.base import b64url
from gateway.errors import DisclosureError

ACTIVE_FILE = "active"


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One Ed25519 key and its id."""

    kid: str
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        """The public half."""
        return self.private.public_key()

    def jwk(self) -> dict[str, str]:
        """The public key as a JWK (RFC 8037)."""
        raw = self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64url(raw),
            "kid": self.kid,
            "use": "sig",
            "alg": "EdDSA",
        }


def _kid_for(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    stamp = time.strftime("%Y%m%d", time.gmtime())
    return f"hg-{stamp}-{base64.b32encode(hashlib.sha256(raw).digest()[:5]).decode().lower()}"


def _write_private(path: Path, data: bytes) -> None:
    # Create with 0600 from the start: never a moment where the key is readable by others.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


class KeyRing:
    """The keys in a directory; re-reads it when ``active`` changes (after a rotation)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._keys: dict[str, SigningKey] = {}
        self._active: str = ""
        self._stamp: tuple[int, int] | None = None
        self.on_rotate: Callable[[str, str], object] | None = None

    @classmethod
    def open(cls, directory: Path) -> KeyRing:
        """Load the keys, creating the first one if the directory has none."""
        ring = cls(directory)
        if not (directory / ACTIVE_FILE).exists():
            ring.rotate()
        ring.refresh()
        return ring

    def rotate(self) -> SigningKey:
        """Generate a new key and make it the one that signs."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        private = Ed25519PrivateKey.generate()
        kid = _kid_for(private)
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_private(self.directory / f"{kid}.pem", pem)
        tmp = self.directory / f".{ACTIVE_FILE}.tmp"
        tmp.write_text(kid + "\n")
        tmp.replace(self.directory / ACTIVE_FILE)
        self.refresh(force=True)
        return self._keys[kid]

    def refresh(self, *, force: bool = False) -> None:
        """Reload when the active pointer changed since the last read."""
        active_path = self.directory / ACTIVE_FILE
        try:
            stat = active_path.stat()
        except FileNotFoundError as exc:
            raise DisclosureError(f"no signing key: {active_path} is missing") from exc
        stamp = (stat.st_mtime_ns, stat.st_ino)
        if not force and stamp == self._stamp:
            return
        keys: dict[str, SigningKey] = {}
        for path in sorted(self.directory.glob("*.pem")):
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(private, Ed25519PrivateKey):
                raise DisclosureError(f"{path} is not an Ed25519 private key")
            keys[path.stem] = SigningKey(path.stem, private)
        active = active_path.read_text().strip()
        if active not in keys:
            raise DisclosureError(f"{active_path} names {active!r}, which has no key file")
        previous = self._active
        self._keys, self._active, self._stamp = keys, active, stamp
        if previous and previous != active and self.on_rotate is not None:
            self.on_rotate(previous, active)

    @property
    def active(self) -> SigningKey:
        """The key that signs now."""
        self.refresh()
        return self._keys[self._active]

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Every public key by kid, old ones included."""
        self.refresh()
        return {kid: key.public for kid, key in self._keys.items()}

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWKS document: active key first, then older ones."""
        self.refresh()
        ordered = sorted(self._keys.values(), key=lambda k: k.kid != self._active)
        return {"keys": [key.jwk() for key in ordered]}

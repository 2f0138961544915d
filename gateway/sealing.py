"""Sealed envelopes (HPKE, RFC 9180): clients seal to a business's endpoint key; hosts open.

hostgate itself only routes sealed bytes: it never calls ``open_sealed`` and holds
no endpoint private key. These helpers are for clients (seal), for businesses
and providers (open), and for the simulator and tests.

Suites: ``x25519`` is DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305;
``mlkem768-x25519`` is the hybrid post-quantum KEM (ML-KEM-768 + X25519) with the
same KDF and AEAD. ``info`` binds each envelope to its business and key id, so an
envelope cannot be replayed to another business or under another key.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.hpke import (
    AEAD,
    KDF,
    KEM,
    MLKEM768X25519PrivateKey,
    MLKEM768X25519PublicKey,
    Suite,
)

from adapters.base import EndpointKey, b64url
from gateway.encoding import b64url_decode

_MLKEM768_PUBLIC = 1184
_SUITES = {
    "x25519": Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.CHACHA20_POLY1305),
    "mlkem768-x25519": Suite(KEM.MLKEM768_X25519, KDF.HKDF_SHA256, AEAD.CHACHA20_POLY1305),
}


def envelope_info(business_id: str, key_id: str) -> bytes:
    """The HPKE ``info`` every envelope is bound to."""
    return f"hostgate-envelope-v1|{business_id}|{key_id}".encode()


def _public(key: EndpointKey) -> x25519.X25519PublicKey | MLKEM768X25519PublicKey:
    if key.suite == "x25519":
        return x25519.X25519PublicKey.from_public_bytes(key.public_key)
    return MLKEM768X25519PublicKey(
        mlkem.MLKEM768PublicKey.from_public_bytes(key.public_key[:_MLKEM768_PUBLIC]),
        x25519.X25519PublicKey.from_public_bytes(key.public_key[_MLKEM768_PUBLIC:]),
    )


def seal(plaintext: bytes, business_id: str, key: EndpointKey) -> bytes:
    """Seal ``plaintext`` to a business's endpoint key (what a client does)."""
    return _SUITES[key.suite].encrypt(plaintext, _public(key), info=envelope_info(business_id, key.kid))


@dataclass(frozen=True, slots=True)
class EndpointPrivateKey:
    """An endpoint's private key, as a business or provider keeps it."""

    suite: str
    private: x25519.X25519PrivateKey | MLKEM768X25519PrivateKey
    public: EndpointKey

    @classmethod
    def generate(cls, suite: str = "x25519") -> EndpointPrivateKey:
        """A new key pair (for onboarding, tests and demos)."""
        if suite == "x25519":
            return cls.from_bytes(suite, x25519.X25519PrivateKey.generate().private_bytes_raw())
        seed = mlkem.MLKEM768PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return cls.from_bytes(suite, seed + x25519.X25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def from_bytes(cls, suite: str, raw: bytes) -> EndpointPrivateKey:
        """Load raw key bytes: 32 for x25519; 64-byte ML-KEM seed + 32 for the hybrid."""
        if suite == "x25519":
            private: x25519.X25519PrivateKey | MLKEM768X25519PrivateKey = (
                x25519.X25519PrivateKey.from_private_bytes(raw)
            )
            public_raw = x25519.X25519PrivateKey.from_private_bytes(raw).public_key().public_bytes_raw()
        else:
            kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(raw[:64])
            classic = x25519.X25519PrivateKey.from_private_bytes(raw[64:])
            private = MLKEM768X25519PrivateKey(kem, classic)
            public_raw = (
                kem.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
                + classic.public_key().public_bytes_raw()
            )
        return cls(
            suite, private, EndpointKey.model_validate({"suite": suite, "public_key": b64url(public_raw)})
        )

    @classmethod
    def from_text(cls, text: str, suite: str = "x25519") -> EndpointPrivateKey:
        """Load the base64url form used by files in ``examples/endpoint-keys``."""
        value = text.strip()
        return cls.from_bytes(suite, b64url_decode(value))

    def open(self, sealed: bytes, business_id: str) -> bytes:
        """Open an envelope sealed to this key for ``business_id``; raises if it was not."""
        return _SUITES[self.suite].decrypt(
            sealed, self.private, info=envelope_info(business_id, self.public.kid)
        )

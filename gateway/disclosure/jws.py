"""Detached compact JWS (RFC 7515 appendix F) with EdDSA over Ed25519.

The payload is the exact bytes of the event body; the JWS travels without it as
``<protected header>..<signature>`` so that any JOSE library can verify it by
putting the body back in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from adapters.base import b64url
from gateway.encoding import b64url_decode
from gateway.errors import SignatureInvalid

ALLOWED_HEADER = frozenset({"alg", "kid"})


def _b64url_decode(text: str) -> bytes:
    # Only the canonical, unpadded encoding: otherwise two different JWS strings verify as one.
    try:
        if text.endswith("="):
            raise ValueError("padded")  # noqa: TRY301 -- JWS parts are never padded; one message for both
        return b64url_decode(text)
    except ValueError as exc:
        raise SignatureInvalid("JWS part is not canonical base64url") from exc


class DetachedSigner:
    """Signs many payloads with one key, encoding the protected header once."""

    def __init__(self, key: Ed25519PrivateKey, kid: str) -> None:
        self._key = key
        self._header = b64url(json.dumps({"alg": "EdDSA", "kid": kid}, separators=(",", ":")).encode())

    def sign(self, payload: bytes) -> str:
        """The detached compact JWS over ``payload``."""
        signing_input = f"{self._header}.{b64url(payload)}".encode()
        return f"{self._header}..{b64url(self._key.sign(signing_input))}"


def sign_detached(payload: bytes, key: Ed25519PrivateKey, kid: str) -> str:
    """Sign ``payload`` and return the detached compact JWS."""
    return DetachedSigner(key, kid).sign(payload)


def verify_detached(jws: str, payload: bytes, keys: Mapping[str, Ed25519PublicKey]) -> dict[str, object]:
    """Check ``jws`` over ``payload`` against the key it names; return its protected header."""
    parts = jws.split(".")
    if len(parts) != 3 or parts[1] != "":  # noqa: PLR2004 -- header, empty payload, signature
        raise SignatureInvalid("not a detached compact JWS")
    header_b64, _, signature_b64 = parts
    try:
        header = json.loads(_b64url_decode(header_b64))
    except ValueError as exc:
        raise SignatureInvalid("JWS header is not JSON") from exc
    if not isinstance(header, dict) or header.get("alg") != "EdDSA":
        raise SignatureInvalid("JWS alg must be EdDSA")
    if set(header) - ALLOWED_HEADER:
        # crit, b64=false and friends change how the payload is read; we never emit them.
        raise SignatureInvalid("JWS header has parameters this verifier does not accept")
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in keys:
        raise SignatureInvalid("JWS names an unknown key")
    signing_input = header_b64.encode() + b"." + b64url(payload).encode()
    try:
        keys[kid].verify(_b64url_decode(signature_b64), signing_input)
    except InvalidSignature as exc:
        raise SignatureInvalid("JWS signature does not match the payload") from exc
    return header

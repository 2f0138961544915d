"""Fetch and read a JWKS of Ed25519 keys."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.encoding import b64url_decode
from gateway.errors import DisclosureError


def keys_from_jwks(document: Mapping[str, Any]) -> dict[str, Ed25519PublicKey]:
    """Ed25519 public keys by kid; other key types are ignored."""
    keys: dict[str, Ed25519PublicKey] = {}
    for jwk in document.get("keys", []):
        if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519" and isinstance(jwk.get("kid"), str):
            raw = b64url_decode(str(jwk["x"]))
            keys[jwk["kid"]] = Ed25519PublicKey.from_public_bytes(raw)
    return keys


async def fetch_jwks(url: str, session: aiohttp.ClientSession) -> dict[str, Ed25519PublicKey]:
    """GET the JWKS and read its keys."""
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as response:
            response.raise_for_status()
            return keys_from_jwks(await response.json())
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise DisclosureError(f"cannot fetch JWKS from {url}: {type(exc).__name__}") from exc


def kid_of(headers: Mapping[str, Any]) -> str | None:
    """The kid a message's JWS names, without verifying anything."""
    raw = headers.get("cloudEvents_jws", headers.get("cloudEvents:jws"))
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        header = json.loads(b64url_decode(text.split(".")[0]))
    except ValueError:
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None

"""base64url (RFC 4648 §5) decoded strictly, in one place for every key, envelope and signature.

Python's decoder silently drops characters outside the alphabet (``AAAA!!!!AAAA`` decodes),
so two different strings could stand for the same bytes. Here only the canonical form is
accepted: the URL-safe alphabet, correct ``=`` padding or none, and no stray bits in the last
character. Imports nothing of ours, so every layer may use it.
"""

from __future__ import annotations

import base64
import binascii
import re

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")
_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# Characters in the final group -> mask of the last character's bits that no byte uses.
_UNUSED_BITS = {0: 0, 2: 0b1111, 3: 0b11}


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url, the form keys, envelopes and JWS parts take."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """The bytes of canonical base64url ``text`` (padded or not); ValueError for anything else."""
    body = text.rstrip("=")
    padding = len(text) - len(body)
    if padding and (padding > 2 or len(text) % 4):  # noqa: PLR2004 -- base64 pads with at most two '='
        raise ValueError("not valid base64url: wrong padding")
    if not _ALPHABET.fullmatch(body) or len(body) % 4 == 1:
        raise ValueError("not valid base64url")
    try:
        data = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except binascii.Error as exc:
        raise ValueError("not valid base64url") from exc
    # The last character of a short final group carries bits no byte uses: they must be zero,
    # or two strings would stand for the same bytes. Checked in place, not by re-encoding.
    unused = _UNUSED_BITS[len(body) % 4]
    if unused and _DIGITS.index(body[-1]) & unused:
        raise ValueError("not canonical base64url (stray bits in the last character)")
    return data

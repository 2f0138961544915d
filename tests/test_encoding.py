"""base64url is decoded strictly: only the canonical form of some bytes is accepted."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.encoding import b64url_decode, b64url_encode


@given(st.binary(max_size=200))
def test_round_trip_padded_or_not(data: bytes) -> None:
    """Any bytes survive encoding, unpadded and padded alike."""
    assert b64url_decode(b64url_encode(data)) == data
    assert b64url_decode(base64.urlsafe_b64encode(data).decode()) == data


@pytest.mark.parametrize(
    "text",
    [
        "AAAA!!!!AAAA",
        "AA AA",
        "AAAA\n",
        "A",
        "AAAAA",
        "AB+/",
        "AB==A",
        "AB===",
        "ABC==",
        "AB=",
        "AAB",
        "AB"[:1] + "F",
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    """Characters outside the URL-safe alphabet, bad padding, impossible lengths and stray bits are refused."""
    with pytest.raises(ValueError, match="base64url"):
        b64url_decode(text)


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=12))
def test_accepted_exactly_when_canonical(text: str) -> None:
    """Over the alphabet, a string is accepted exactly when re-encoding its bytes gives it back."""
    if len(text) % 4 == 1:
        return  # no bytes have that length (refused, covered above)
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(data) == text:
        assert b64url_decode(text) == data
    else:
        with pytest.raises(ValueError, match="stray bits"):
            b64url_decode(text)


@given(st.binary(min_size=1, max_size=60), st.integers(min_value=0), st.sampled_from("!*. \n+/"))
def test_one_foreign_character_anywhere_is_refused(data: bytes, where: int, junk: str) -> None:
    """A character outside the alphabet inserted anywhere makes the whole string invalid."""
    text = b64url_encode(data)
    at = where % (len(text) + 1)
    with pytest.raises(ValueError, match="base64url"):
        b64url_decode(text[:at] + junk + text[at:])


def test_base64url_fields_refuse_what_the_decoder_used_to_skip() -> None:
    """A sealed envelope or key field with characters outside the alphabet is a validation error."""
    from pydantic import TypeAdapter, ValidationError  # noqa: PLC0415 -- this test alone needs them

    from adapters.base import Base64UrlBytes  # noqa: PLC0415 -- same

    field = TypeAdapter(Base64UrlBytes)
    assert field.validate_python("AAAAAAAA") == bytes(6)
    with pytest.raises(ValidationError, match="base64url"):
        field.validate_python("AAAA!!!!AAAA")

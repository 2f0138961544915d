"""Sealed envelopes: both suites round-trip; an envelope opens only for its business and key."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag

from gateway.sealing import EndpointPrivateKey, seal


@pytest.mark.parametrize("suite", ["x25519", "mlkem768-x25519"])
class TestSealing:
    def test_round_trip(self, suite: str) -> None:
        """What a client seals to an endpoint key, that endpoint opens."""
        key = EndpointPrivateKey.generate(suite)
        assert key.open(seal(b"selamat pagi", "acme", key.public), "acme") == b"selamat pagi"

    def test_bound_to_business(self, suite: str) -> None:
        """An envelope sealed for one business does not open as another's."""
        key = EndpointPrivateKey.generate(suite)
        with pytest.raises(InvalidTag):
            key.open(seal(b"x", "acme", key.public), "other")

    def test_bound_to_key(self, suite: str) -> None:
        """Another endpoint's key cannot open it: a moved host cannot read old envelopes."""
        old, new = EndpointPrivateKey.generate(suite), EndpointPrivateKey.generate(suite)
        with pytest.raises(InvalidTag):
            new.open(seal(b"x", "acme", old.public), "acme")

    def test_key_survives_its_text_form(self, suite: str) -> None:
        """The hybrid key's public half is ML-KEM-768 (1184 bytes) plus X25519 (32)."""
        key = EndpointPrivateKey.generate(suite)
        assert len(key.public.public_key) == (32 if suite == "x25519" else 1216)

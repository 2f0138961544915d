"""Batches of notices: one signature per window, and every chat's notice still proven alone.

The gateway signs a window (gateway.disclosure.batch); the network splits it
(gateway.client.batches.split_batch); each user's client verifies only its own part
(verify_batched_notice). Anything changed anywhere must fail, and a user's part must
say nothing about who else was in the window.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.adapter_registry import AdapterRegistry
from gateway.client.batches import split_batch, verify_batched_notice
from gateway.client.verifier import Accepted, EventVerifier, Rejected
from gateway.config import load_config
from gateway.disclosure.batch import sign_batch
from gateway.disclosure.document import build_disclosure, canonical_json, notice_template
from gateway.disclosure.keys import SigningKey
from gateway.errors import SignatureInvalid
from gateway.events import NOTICE_BATCH, NOTICE_PUBLISHED
from tests.conftest import EXAMPLE_CONFIG

KEY = SigningKey("k-batch", Ed25519PrivateKey.generate())
OTHER_KEY = SigningKey("k-batch", Ed25519PrivateKey.generate())  # same kid, another key: a forgery
KEYS = {KEY.kid: KEY.private.public_key()}
BUSINESS = "nimbus-shop"
TEMPLATE: dict[str, object] = notice_template(
    build_disclosure(
        load_config(EXAMPLE_CONFIG, {}, AdapterRegistry()).businesses[BUSINESS], 2, 1, datetime.now(UTC)
    ),
    "hosting_changed",
)


def _recipients(n: int) -> list[tuple[str, str]]:
    return [(f"+62811000{i:04d}", f"notice-{i:04d}") for i in range(n)]


def _batch(
    n: int, key: SigningKey = KEY, template: dict[str, object] | None = None
) -> tuple[dict[str, str | int], bytes]:
    return sign_batch("batch-1", BUSINESS, datetime.now(UTC), template or TEMPLATE, _recipients(n), key)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(min_value=1, max_value=70))
def test_every_chat_of_a_batch_proves_its_own_notice(n: int) -> None:
    """Split a batch of n: each part verifies on its own and is exactly that user's notice."""
    headers, body = _batch(n)
    kid, parts = split_batch(headers, body, KEYS)
    assert kid == KEY.kid
    assert [(p.user_id, p.notice_id) for p in parts] == _recipients(n)
    for part in parts:
        verified = verify_batched_notice(part.body, KEYS)
        assert verified.kid == KEY.kid
        assert verified.batch_id == "batch-1"
        assert (verified.document.user_id, verified.document.notice_id) == (part.user_id, part.notice_id)
        assert verified.document.operator == TEMPLATE["operator"]
        assert verified.document.business_id == BUSINESS


def test_a_part_names_no_other_user_and_no_other_notice() -> None:
    """A user's part carries sibling hashes of salted entries only: no other id appears in it."""
    headers, body = _batch(16)
    _, parts = split_batch(headers, body, KEYS)
    for part in parts:
        others = [(u, n) for u, n in _recipients(16) if u != part.user_id]
        assert not any(u.encode() in part.body or n.encode() in part.body for u, n in others)
    # Salts differ, so two batches to the same users share no leaf: a hash reveals nothing.
    _, again = split_batch(*_batch(16), KEYS)
    assert orjson.loads(parts[0].body)["notice"]["salt"] != orjson.loads(again[0].body)["notice"]["salt"]


def _edited_body(body: bytes, edit: object) -> bytes:
    batch = orjson.loads(body)
    edit(batch)  # type: ignore[operator]  # a callable from the parametrisation below
    return canonical_json(batch)


@pytest.mark.parametrize(
    ("what", "edit"),
    [
        ("a user id", lambda b: b["notices"][3].__setitem__(0, "+628119999999")),
        ("a notice id", lambda b: b["notices"][0].__setitem__(1, "notice-forged")),
        ("a salt", lambda b: b["notices"][5].__setitem__(2, "AAAAAAAAAAAAAAAAAAAAAA")),
        ("an entry dropped", lambda b: b["notices"].pop()),
        ("the operator", lambda b: b["template"].__setitem__("operator", "Someone Else")),
        ("the root", lambda b: b["head"].__setitem__("root", b["head"]["template_sha256"])),
        ("the size", lambda b: b["head"].__setitem__("size", 9)),
    ],
)
def test_the_network_refuses_a_batch_changed_anywhere(what: str, edit: object) -> None:
    """Any change to an entry, the template or the head fails the whole batch."""
    headers, body = _batch(8)
    with pytest.raises(SignatureInvalid):
        split_batch(headers, _edited_body(body, edit), KEYS)
    assert what


def test_a_forged_or_retyped_batch_is_refused() -> None:
    """Signed with another key under the same kid, or with its type header changed: refused."""
    headers, body = _batch(4, key=OTHER_KEY)
    with pytest.raises(SignatureInvalid):
        split_batch(headers, body, KEYS)
    headers, body = _batch(4)
    with pytest.raises(SignatureInvalid):
        split_batch({**headers, "cloudEvents_type": NOTICE_PUBLISHED}, body, KEYS)


@pytest.mark.parametrize(
    "edit",
    [
        lambda p: p["notice"].__setitem__("user_id", "+628110000003"),  # claims another user's slot
        lambda p: p["proof"].__setitem__("index", (p["proof"]["index"] + 1) % 8),
        lambda p: p["proof"]["hashes"].reverse(),
        lambda p: p["template"].__setitem__("operator", "Someone Else"),
        lambda p: p["head"].__setitem__("size", 16),
        lambda p: p.__setitem__("jws", p["jws"][:-4] + "AAAA"),
    ],
)
def test_a_client_refuses_a_part_changed_anywhere(edit: object) -> None:
    """A user's part with its entry, path, template, head or signature changed does not verify."""
    headers, body = _batch(8)
    _, parts = split_batch(headers, body, KEYS)
    part = orjson.loads(parts[2].body)
    edit(part)  # type: ignore[operator]  # a callable from the parametrisation above
    with pytest.raises(SignatureInvalid):
        verify_batched_notice(canonical_json(part), KEYS)


def test_a_part_of_one_batch_does_not_pass_under_another_batchs_head() -> None:
    """An entry spliced under another window's signed head fails its inclusion check."""
    _, first = split_batch(*_batch(8), KEYS)
    _, second = split_batch(*_batch(8), KEYS)
    spliced = orjson.loads(first[1].body)
    spliced["head"], spliced["jws"] = (orjson.loads(second[1].body)[k] for k in ("head", "jws"))
    with pytest.raises(SignatureInvalid):
        verify_batched_notice(canonical_json(spliced), KEYS)


def test_the_verifier_yields_one_notice_per_chat_and_drops_a_repeated_batch() -> None:
    """EventVerifier.check_batch: one Accepted per chat; the same batch again is all duplicates."""
    verifier = EventVerifier(KEYS)
    headers, body = _batch(5)
    first = verifier.check_batch(headers, body)
    assert [type(v) for v in first] == [Accepted] * 5
    assert {v.event_type for v in first if isinstance(v, Accepted)} == {NOTICE_PUBLISHED}
    again = verifier.check_batch(headers, body)
    assert [v.reason for v in again if isinstance(v, Rejected)] == ["duplicate"] * 5
    assert verifier.check_batch(headers, body[:-10]) == [Rejected("bad_signature", "batch body is not JSON")]
    assert headers["cloudEvents_type"] == NOTICE_BATCH

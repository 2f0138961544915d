"""The client SDK accepts only untampered, new, in-order events (property tests)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.adapter_registry import AdapterRegistry
from gateway.broker.cloudevents import CloudEvent
from gateway.client.verifier import Accepted, EventVerifier, Rejected
from gateway.config import load_config
from gateway.disclosure.document import build_disclosure, notice_template
from gateway.disclosure.keys import KeyRing
from gateway.disclosure.signed import signed_event
from gateway.events import DISCLOSURE_PUBLISHED, NOTICE_PUBLISHED
from tests.conftest import EXAMPLE_CONFIG

CONFIG = load_config(EXAMPLE_CONFIG, {}, AdapterRegistry())
NIMBUS = CONFIG.businesses["nimbus-shop"]


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    """A signing key ring in a temporary directory."""
    return KeyRing.open(tmp_path_factory.mktemp("keys"))


def disclosure_event(ring: KeyRing, revision: int, business: Any = NIMBUS) -> CloudEvent:
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    document = build_disclosure(business, revision, revision - 1 or None, now)
    return signed_event(
        DISCLOSURE_PUBLISHED,
        str(uuid.uuid4()),
        subject=business.id,
        document=document.model_dump(mode="json", exclude={"event"}),
        key=ring.active,
        when=now,
    )


def notice_event(ring: KeyRing, revision: int, user: str) -> CloudEvent:
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    document = build_disclosure(NIMBUS, revision, None, now)
    notice_id = str(uuid.uuid4())
    return signed_event(
        NOTICE_PUBLISHED,
        notice_id,
        subject=NIMBUS.id,
        document={
            **notice_template(document, "hosting_changed"),
            "user_id": user,
            "notice_id": notice_id,
        },
        key=ring.active,
        when=now,
    )


def as_message(event: CloudEvent) -> tuple[dict[str, Any], bytes]:
    return dict(event.headers()), event.data


class TestAcceptance:
    def test_signed_disclosure_accepted_once(self, ring: KeyRing) -> None:
        """A genuine disclosure is accepted; the same event again is a duplicate."""
        verifier = EventVerifier(ring.public_keys())
        headers, body = as_message(disclosure_event(ring, 1))
        accepted = verifier.check(headers, body)
        assert isinstance(accepted, Accepted)
        assert accepted.kid == ring.active.kid
        again = verifier.check(headers, body)
        assert isinstance(again, Rejected)
        assert again.reason == "duplicate"

    def test_unsigned_event_dropped(self, ring: KeyRing) -> None:
        """An event without a JWS is dropped."""
        headers, body = as_message(disclosure_event(ring, 1))
        del headers["cloudEvents_jws"]
        verdict = EventVerifier(ring.public_keys()).check(headers, body)
        assert isinstance(verdict, Rejected)
        assert verdict.reason == "bad_signature"

    def test_forged_with_another_key_dropped(self, ring: KeyRing, tmp_path: Path) -> None:
        """An event signed by a key not in the JWKS is dropped, even with a kid that is."""
        forger = KeyRing.open(tmp_path / "forger")
        event = disclosure_event(forger, 1)
        headers, body = as_message(event)
        verdict = EventVerifier(ring.public_keys()).check(headers, body)
        assert isinstance(verdict, Rejected)
        assert verdict.reason == "bad_signature"

    def test_legacy_header_prefix_accepted(self, ring: KeyRing) -> None:
        """Headers with the older ``cloudEvents:`` prefix are read too."""
        headers, body = as_message(disclosure_event(ring, 1))
        legacy = {k.replace("cloudEvents_", "cloudEvents:"): v for k, v in headers.items()}
        assert isinstance(EventVerifier(ring.public_keys()).check(legacy, body), Accepted)


class TestTampering:
    @settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(data=st.data())
    def test_any_body_byte_change_rejected(self, ring: KeyRing, data: st.DataObject) -> None:
        """Changing any single byte of the body makes the event rejected."""
        headers, body = as_message(disclosure_event(ring, 1))
        index = data.draw(st.integers(0, len(body) - 1))
        flip = data.draw(st.integers(1, 255))
        tampered = body[:index] + bytes([body[index] ^ flip]) + body[index + 1 :]
        assert isinstance(EventVerifier(ring.public_keys()).check(headers, tampered), Rejected)

    @settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(data=st.data())
    def test_any_header_change_rejected(self, ring: KeyRing, data: st.DataObject) -> None:
        """Changing, adding or removing any CloudEvents header makes the event rejected."""
        headers, body = as_message(disclosure_event(ring, 1))
        names = sorted(headers)
        action = data.draw(st.sampled_from(["change", "add", "remove"]))
        if action == "add":
            name = "cloudEvents_" + data.draw(st.from_regex(r"[a-z]{1,12}", fullmatch=True))
            if name in headers:
                return
            headers[name] = data.draw(st.text(min_size=1, max_size=20))
        else:
            name = data.draw(st.sampled_from(names))
            if action == "remove":
                del headers[name]
            else:
                value = data.draw(st.text(min_size=0, max_size=40))
                if value == headers[name]:
                    return
                headers[name] = value
        assert isinstance(EventVerifier(ring.public_keys()).check(headers, body), Rejected)

    @settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(data=st.data())
    def test_any_signature_change_rejected(self, ring: KeyRing, data: st.DataObject) -> None:
        """Changing any character of the JWS makes the event rejected."""
        headers, body = as_message(disclosure_event(ring, 1))
        jws = headers["cloudEvents_jws"]
        index = data.draw(st.integers(0, len(jws) - 1))
        replacement = data.draw(
            st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=")
        )
        if replacement == jws[index]:
            return
        headers["cloudEvents_jws"] = jws[:index] + replacement + jws[index + 1 :]
        assert isinstance(EventVerifier(ring.public_keys()).check(headers, body), Rejected)

    def test_body_reencoded_rejected(self, ring: KeyRing) -> None:
        """The same JSON re-serialised with other whitespace is not the signed bytes: rejected."""
        headers, body = as_message(disclosure_event(ring, 1))
        pretty = json.dumps(json.loads(body), indent=1).encode()
        assert isinstance(EventVerifier(ring.public_keys()).check(headers, pretty), Rejected)


class TestOrdering:
    @settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
    @given(revisions=st.lists(st.integers(1, 30), min_size=1, max_size=25))
    def test_disclosure_revision_never_goes_back(self, ring: KeyRing, revisions: list[int]) -> None:
        """A disclosure whose revision is lower than or equal to the last accepted one is ignored."""
        verifier = EventVerifier(ring.public_keys())
        highest = 0
        for revision in revisions:
            verdict = verifier.check(*as_message(disclosure_event(ring, revision)))
            if revision > highest:
                assert isinstance(verdict, Accepted)
                highest = revision
            else:
                assert isinstance(verdict, Rejected)
                assert verdict.reason == "stale_revision"

    def test_notice_older_than_seen_for_that_chat_ignored(self, ring: KeyRing) -> None:
        """A notice for an older revision than one already shown in that chat is ignored; other chats are independent."""
        verifier = EventVerifier(ring.public_keys())
        assert isinstance(verifier.check(*as_message(notice_event(ring, 3, "u1"))), Accepted)
        stale = verifier.check(*as_message(notice_event(ring, 2, "u1")))
        assert isinstance(stale, Rejected)
        assert stale.reason == "stale_revision"
        assert isinstance(verifier.check(*as_message(notice_event(ring, 2, "u2"))), Accepted)

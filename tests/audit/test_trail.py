"""The audit pipeline keeps only what each event's schema allows, and pseudonymises users."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.audit.pseudonym import Pseudonymizer
from gateway.audit.trail import AuditTrail
from gateway.disclosure.keys import KeyRing
from tests.audit.trails import writer_for

CANARY_USER = "+62-812-CANARY-USER"
CANARY_TEXT = "canary message text: meet me at noon"


@pytest.fixture
def trail(tmp_path: Path) -> Iterator[AuditTrail]:
    """A trail on a temporary directory, open."""
    ring = KeyRing.open(tmp_path / "keys")
    writer = writer_for(tmp_path / "audit", ring)
    writer.open()
    yield AuditTrail(writer, Pseudonymizer.open(tmp_path / "keys"))
    writer.close()


def _trail_text(tmp_path: Path) -> str:
    return "".join(p.read_text() for p in sorted((tmp_path / "audit").glob("audit-*.jsonl")))


class TestPipeline:
    async def test_fields_outside_the_schema_are_dropped(self, trail: AuditTrail, tmp_path: Path) -> None:
        """A message body or token passed by mistake never reaches the trail."""
        await trail.record(
            "message.rejected",
            business="acme",
            message_id="m1",
            user=CANARY_USER,
            reason="user_blocked",
            body=CANARY_TEXT,
            token="secret-token",
        )
        trail.writer.close()
        text = _trail_text(tmp_path)
        assert CANARY_TEXT not in text
        assert "secret-token" not in text
        assert '"reason":"user_blocked"' in text

    async def test_user_ids_are_pseudonymised(self, trail: AuditTrail, tmp_path: Path) -> None:
        """The raw user id never appears; its keyed pseudonym does, the same each time."""
        await trail.record("consent.recorded", business="acme", user=CANARY_USER, decision="block")
        await trail.record("consent.recorded", business="acme", user=CANARY_USER, decision="allow")
        trail.writer.close()
        text = _trail_text(tmp_path)
        assert CANARY_USER not in text
        assert text.count(trail.pseudonymize(CANARY_USER)) == 2

    async def test_pseudonyms_need_the_key(self, tmp_path: Path) -> None:
        """Another key gives another pseudonym: the trail alone does not link back to users."""
        assert Pseudonymizer(b"a" * 32)(CANARY_USER) != Pseudonymizer(b"b" * 32)(CANARY_USER)

    async def test_bad_value_refused_at_the_caller(self, trail: AuditTrail) -> None:
        """A value that does not fit the schema raises where it is recorded, and nothing is written."""
        with pytest.raises(ValidationError):
            await trail.record("consent.recorded", business="acme", user=CANARY_USER, decision="maybe")
        assert trail.writer.seq == 0

    async def test_record_returns_once_on_disk(self, trail: AuditTrail) -> None:
        """record() returns the sequence number once the record is written."""
        assert await trail.record("keys.rotated", kid="k2", previous_kid="k1") == 1
        assert await trail.record("keys.rotated", kid="k3", previous_kid="k2") == 2

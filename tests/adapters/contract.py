"""The contract every hosting adapter passes, built-in or third-party: subclass and provide ``harness``.

A harness gives the adapter under test, what its host received, and a way to
make the host answer the next attempt with an HTTP status (or the equivalent).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from adapters.base import Envelope, HostingAdapter, HostingFacts, StatusUpdate


@dataclass
class Harness:
    """The adapter under test and its host."""

    adapter: HostingAdapter
    received: Callable[[], list[str]]  # message ids the host received, in order
    statuses: Callable[[], list[str]]  # status values the business was told
    answer_next: Callable[[int], None]  # the host answers the next attempt with this HTTP status


def envelope(message_id: str) -> Envelope:
    """A sealed envelope (its bytes are opaque to the adapter)."""
    return Envelope(
        message_id=message_id,
        business_id="acme",
        sender="u_1",
        key_id="ek_test",
        suite="x25519",
        sealed=b"\x00sealed-bytes",
        sent_at=datetime(2026, 11, 29, tzinfo=UTC),
        disclosure_revision=1,
        chat_sequence=1,
    )


class AdapterContract:
    """Behaviour every HostingAdapter must show; a subclass provides the ``harness`` fixture."""

    async def test_is_a_hosting_adapter(self, harness: Harness) -> None:
        """The adapter satisfies the HostingAdapter protocol and declares valid facts."""
        assert isinstance(harness.adapter, HostingAdapter)
        assert isinstance(harness.adapter.facts(), HostingFacts)
        assert harness.adapter.facts().endpoint_key.kid.startswith("ek_")

    async def test_delivers_once(self, harness: Harness) -> None:
        """A delivered envelope reaches the host exactly once."""
        result = await harness.adapter.deliver(envelope("m-1"))
        assert result.outcome == "delivered"
        assert harness.received() == ["m-1"]

    @pytest.mark.parametrize(
        ("status", "outcome"), [(503, "retry"), (429, "retry"), (410, "gone"), (400, "retry"), (404, "retry")]
    )
    async def test_failures_are_classified(self, harness: Harness, status: int, outcome: str) -> None:
        """Host failures become retry, gone or rejected as documented; nothing raises."""
        harness.answer_next(status)
        assert (await harness.adapter.deliver(envelope("m-2"))).outcome == outcome

    async def test_business_told_of_status(self, harness: Harness) -> None:
        """A status update reaches the business."""
        update = StatusUpdate("r-1", "m-1", "acme", "read", "read", None, datetime.now(UTC))
        assert (await harness.adapter.notify_status(update)).outcome == "delivered"
        assert harness.statuses() == ["read"]

    async def test_closed_adapter_answers_retry(self, harness: Harness) -> None:
        """After aclose (a reload replaced it), delivering answers retry instead of raising; aclose is idempotent."""
        await harness.adapter.aclose()
        await harness.adapter.aclose()
        assert (await harness.adapter.deliver(envelope("m-3"))).outcome == "retry"


def bodies_by_type(requests: Sequence[object], kind: str) -> list[dict[str, object]]:
    """JSON bodies of recorded requests whose ``type`` is ``kind``."""
    out = []
    for request in requests:
        body = json.loads(request.body)  # type: ignore[attr-defined]  # a Received record
        if body.get("type") == kind:
            out.append(body)
    return out


Factory = Callable[[str], Awaitable[HostingAdapter]]

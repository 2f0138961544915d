"""The CloudEvents AMQP binding, read strictly: what the spec allows is accepted, what it forbids refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.broker.cloudevents import CloudEvent, parse
from gateway.errors import CloudEventError

BASE = {
    "cloudEvents_specversion": "1.0",
    "cloudEvents_id": "e-1",
    "cloudEvents_source": "urn:test",
    "cloudEvents_type": "com.hostgate.test",
}


class TestTime:
    def test_native_amqp_timestamp_is_accepted(self) -> None:
        """`time` in its native AMQP timestamp form (a datetime from the wire) is read, as UTC."""
        event = parse({**BASE, "cloudEvents_time": datetime(2026, 12, 2, 7, 0, 0)}, b"{}")
        assert event.time == datetime(2026, 12, 2, 7, 0, 0, tzinfo=UTC)

    @pytest.mark.parametrize(
        "text", ["2026-12-02T07:00:00Z", "2026-12-02T07:00:00.123+07:00", "2026-12-02t07:00:00z"]
    )
    def test_rfc3339_strings_are_accepted(self, text: str) -> None:
        """RFC 3339 date-times with an offset, any fraction, either case of T and Z."""
        event = parse({**BASE, "cloudEvents_time": text}, b"{}")
        assert event.time is not None
        assert event.time.tzinfo is not None

    @pytest.mark.parametrize(
        "text", ["2026-12-02T07:00:00", "2026-12-02", "07:00:00Z", "yesterday", "2026-13-02T07:00:00Z"]
    )
    def test_anything_else_is_refused(self, text: str) -> None:
        """An offset-less, date-only, time-only or impossible `time` is not an RFC 3339 timestamp."""
        with pytest.raises(CloudEventError, match="RFC 3339"):
            parse({**BASE, "cloudEvents_time": text}, b"{}")


class TestAttributeNames:
    @pytest.mark.parametrize("name", ["Traceparent", "my-ext", "data", "a" * 21])
    def test_forbidden_names_are_refused(self, name: str) -> None:
        """Upper case, punctuation, the reserved name `data` and over-long names are refused."""
        with pytest.raises(CloudEventError, match="attribute name"):
            parse({**BASE, f"cloudEvents_{name}": "x"}, b"{}")

    @given(
        st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True).filter(
            lambda n: n not in {"data", "specversion", "id", "source", "type", "time", "subject"}
        ),
        st.text(min_size=1, max_size=30),
    )
    def test_spec_names_round_trip(self, name: str, value: str) -> None:
        """Any spec-conforming extension written by hostgate is read back unchanged."""
        event = CloudEvent(id="e", type="t", data=b"{}", extensions={name: value})
        assert parse(event.headers(), event.data).extensions[name] == value

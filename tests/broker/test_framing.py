"""The direct properties encoder writes exactly pamqp's bytes, and decodes back to what was set."""

from __future__ import annotations

import struct
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pamqp import body as pamqp_body
from pamqp import commands as spec
from pamqp import frame, header
from pamqp.common import FieldTable

from gateway.broker.cloudevents import CloudEvent
from gateway.broker.framing import Properties, content_frames, publish_method
from gateway.broker.publisher import Outgoing
from gateway.events import INBOUND_RECEIPT

_text = st.text(max_size=40)
_keys = st.text(min_size=1, max_size=140)
_values = st.one_of(_text, st.integers(-(2**40), 2**40), st.booleans(), st.binary(max_size=8))
_options = st.fixed_dictionaries(
    {},
    optional={
        "content_type": st.text(max_size=300),
        "message_id": _text,
        "message_type": _text,
        "reply_to": _text,
        "correlation_id": _text,
        "expiration": st.integers(0, 10**9).map(str),
        "delivery_mode": st.sampled_from([1, 2]),
        "priority": st.integers(0, 9),
        "timestamp": st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
        "headers": st.one_of(
            st.dictionaries(_keys, _text, max_size=12), st.dictionaries(_keys, _values, max_size=6)
        ),
    },
)


def _encoded(make: type[spec.Basic.Properties], options: dict[str, object]) -> bytes | type[Exception]:
    try:
        return make(**options).marshal()  # type: ignore[arg-type] # the options are drawn above
    # struct.error: pamqp 3.3 (aio-pika 9.4's) packs a header int in -128..-1 as an unsigned octet
    # and fails; the direct path hands such a table to pamqp, so both fail alike there.
    except (TypeError, ValueError, struct.error) as exc:
        return type(exc)


@given(_options)
@example({"headers": {"0": -1}})  # a small negative int: pamqp 3.3 cannot encode it, 4.x can
def test_the_same_bytes_as_pamqp(options: dict[str, object]) -> None:
    """Whatever properties are set, the bytes (or the refusal) are pamqp's own."""
    assert _encoded(Properties, options) == _encoded(spec.Basic.Properties, options)


@given(st.dictionaries(_keys.filter(lambda k: len(k.encode()) <= 128), _text, max_size=12), _text)
def test_a_string_table_decodes_back(headers: dict[str, str], message_id: str) -> None:
    """What hostgate publishes decodes, with pamqp's reader, to the headers it was given."""
    table: FieldTable = dict(headers)
    data = Properties(headers=table, message_id=message_id, delivery_mode=2).marshal()
    decoded = spec.Basic.Properties()
    decoded.unmarshal(int.from_bytes(data[:2]), data[2:])
    assert (decoded.headers or {}) == headers
    assert decoded.message_id == (message_id or None)
    assert decoded.delivery_mode == 2


def test_a_receipt_takes_the_direct_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real receipt's properties are encoded without falling back to pamqp, to pamqp's bytes."""
    event = CloudEvent(
        id=str(uuid.uuid4()),
        type=INBOUND_RECEIPT,
        subject="warung-sari",
        time=datetime.now(UTC),
        data=b"{}",
    )
    properties = Outgoing.of("hostgate.outbound", "warung-sari.receipt", event).properties()
    expected = spec.Basic.Properties.marshal(properties)

    def no_fallback(self: spec.Basic.Properties) -> bytes:
        raise AssertionError("fell back to pamqp's encoder")

    monkeypatch.setattr(spec.Basic.Properties, "marshal", no_fallback)
    assert properties.marshal() == expected


@given(
    st.integers(1, 2**16 - 1),
    st.from_regex(r"[a-zA-Z0-9_.:-]{0,60}", fullmatch=True),  # names pamqp accepts for an exchange
    st.text(max_size=60),
    st.binary(max_size=600),
    st.integers(1, 200),
)
def test_publish_frames_are_pamqps(channel: int, exchange: str, key: str, body: bytes, max_body: int) -> None:
    """A publish framed here is byte for byte what pamqp frames: method, header, body split at the limit."""
    properties = Properties(headers={"cloudEvents_id": "x"}, message_id="m", delivery_mode=2)
    ours = publish_method(channel, exchange, key) + content_frames(channel, properties, body, max_body)
    theirs = frame.marshal(spec.Basic.Publish(exchange=exchange, routing_key=key, mandatory=True), channel)
    theirs += frame.marshal(header.ContentHeader(0, len(body), properties), channel)
    for start in range(0, len(body), max_body):
        theirs += frame.marshal(pamqp_body.ContentBody(body[start : start + max_body]), channel)
    assert ours == theirs


def test_a_name_over_255_bytes_is_refused() -> None:
    """A name too long for AMQP is refused before anything of the window is sent."""
    with pytest.raises(ValueError, match="255 bytes"):
        publish_method(1, "x" * 256, "k")

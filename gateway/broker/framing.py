"""AMQP message properties for what hostgate publishes, encoded without pamqp's generic walk.

Every receipt and notice carries its CloudEvents attributes as a table of string
headers. pamqp encodes a property list by looking up each field's AMQP type and
each table value's Python type in turn, which costs about as much CPU as the rest
of the publish together (~25 µs a message here). The properties hostgate sets
are all short strings, an octet and a table of strings, so they are encoded
directly; anything else (an integer header, a timestamp, a key over 128 bytes)
goes through pamqp unchanged. The bytes are the same either way (property-tested).

A window of publishes is framed here too, into one buffer for one write: the
library's per-message publish costs a task, a lock, a timeout scope, two futures
and a write each (~70 µs a message here, more than the rest of a relay's work).
"""

from __future__ import annotations

import struct

from pamqp import commands as spec

_LONG = struct.Struct(">I")
_FLAGS = struct.Struct(">H")
_SHORT_MAX = 255
_KEY_MAX = 128  # pamqp truncates longer table keys (with a warning): left to it
# The properties whose AMQP type is shortstr, and those that are an octet.
_SHORT_STRINGS = frozenset(
    {
        "content_type",
        "content_encoding",
        "correlation_id",
        "reply_to",
        "expiration",
        "message_id",
        "message_type",
        "user_id",
        "app_id",
        "cluster_id",
    }
)
_OCTETS = frozenset({"delivery_mode", "priority"})


def _short(text: str) -> bytes | None:
    raw = text.encode()
    return None if len(raw) > _SHORT_MAX else bytes((len(raw),)) + raw


def _string_table(headers: dict[str, object]) -> bytes | None:
    """A field table of string values (type ``S``), keys sorted as pamqp sorts them; None otherwise."""
    parts: list[bytes] = []
    for key in sorted(headers):
        value = headers[key]
        name = key.encode()
        if type(value) is not str or len(name) > _KEY_MAX:
            return None
        raw = value.encode()
        parts += (bytes((len(name),)), name, b"S", _LONG.pack(len(raw)), raw)
    body = b"".join(parts)
    return _LONG.pack(len(body)) + body


def _kind(name: str) -> str:
    if name in _SHORT_STRINGS:
        return "short"
    if name in _OCTETS:
        return "octet"
    return "table" if name == "headers" else ""  # "": only pamqp encodes it (a timestamp)


# Each property's name, flag and how it is encoded here, in pamqp's order.
_LAYOUT = tuple(
    (name, spec.Basic.Properties.flags[name], _kind(name)) for name in spec.Basic.Properties.__slots__
)


class Properties(spec.Basic.Properties):
    """``Basic.Properties`` whose ``marshal`` takes the direct path when every value allows it.

    No ``__slots__`` of its own: pamqp iterates ``self.__slots__`` (its list of property
    names), which a subclass's empty one would hide.
    """

    def marshal(self) -> bytes:
        """The properties as pamqp would encode them (its own code for anything unusual)."""
        flags = 0
        parts: list[bytes] = []
        for name, flag, kind in _LAYOUT:
            value = getattr(self, name)
            if value is None:
                continue
            encoded: bytes | None = None
            if kind == "short" and type(value) is str:
                if not value:
                    continue  # pamqp leaves an empty string out
                encoded = _short(value)
            elif kind == "table" and type(value) is dict:
                encoded = _string_table(value)
            elif kind == "octet" and type(value) is int and 0 <= value <= _SHORT_MAX:
                encoded = bytes((value,))
            if encoded is None:
                return super().marshal()
            flags |= flag
            parts.append(encoded)
        # Every property flag is below bit 16: one flag word, its continuation bit clear.
        return _FLAGS.pack(flags) + b"".join(parts)


# Frame types and the frame-end octet (AMQP 0-9-1, 4.2.3).
_METHOD, _HEADER, _BODY = 1, 2, 3
_FRAME_END = b"\xce"
_FRAME = struct.Struct(">BHI")
_BASIC_PUBLISH = struct.Struct(">HHH")  # class 60, method 40, reserved short
_CONTENT_HEADER = struct.Struct(">HHQ")  # class 60, weight 0, body size
_BASIC = 60
_PUBLISH = 40
_MANDATORY = 1


def _frame(kind: int, channel: int, payload: bytes) -> bytes:
    return _FRAME.pack(kind, channel, len(payload)) + payload + _FRAME_END


def publish_method(channel: int, exchange: str, routing_key: str) -> bytes:
    """The ``Basic.Publish`` method frame (mandatory, not immediate) as pamqp encodes it."""
    name, key = _short(exchange), _short(routing_key)
    if name is None or key is None:
        raise ValueError("an exchange name and a routing key are at most 255 bytes")
    payload = _BASIC_PUBLISH.pack(_BASIC, _PUBLISH, 0) + name + key + bytes((_MANDATORY,))
    return _frame(_METHOD, channel, payload)


def content_frames(channel: int, properties: spec.Basic.Properties, body: bytes, max_body: int) -> bytes:
    """The content header frame and the body frames (``max_body`` bytes at most each) of one message."""
    header = _CONTENT_HEADER.pack(_BASIC, 0, len(body)) + properties.marshal()
    parts = [_frame(_HEADER, channel, header)]
    parts += (_frame(_BODY, channel, body[i : i + max_body]) for i in range(0, len(body), max_body))
    return b"".join(parts)

"""Raw-HTTP fuzzing: hostile header bytes, encodings and framing never get a 500 or put a key in the log.

schemathesis sends well-formed HTTP that follows the OpenAPI document; this sends
what it never does: non-UTF-8 and control bytes in header names and values, false
Content-Encoding and Transfer-Encoding, lengths that disagree with the body, broken
chunking, bodies cut short. Each case goes over its own socket to a real
``hostgate serve`` process; the write side is shut after sending, so a body that
is shorter than announced ends the request instead of waiting out a timeout.

CI runs HOSTGATE_FUZZ_RAW_EXAMPLES (default 300) cases; ``make fuzz`` runs 10,000.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import EXAMPLE_CONFIG
from tests.engines import SUITE_ENGINE, drop_schema, new_schema_name, schema_url
from tests.support import serving

pytestmark = pytest.mark.broker

KEY = "hg_OaJgRLK3o0V2k_HGoBNpsFEVC6Ha_fdaRIb3flcB36Y"  # warung-sari's example key
EXAMPLES = int(os.environ.get("HOSTGATE_FUZZ_RAW_EXAMPLES", "300"))

PATHS = [
    b"/v1/messages",
    b"/v1/messages/m-1",
    b"/v1/disclosure",
    b"/v1/network/users/u/export",
    b"/disclosures/warung-sari",
    b"/healthz",
    b"/readyz",
    b"/metrics",
    b"/console/",
    b"/console/login",
    b"/console/logout",
    b"/.well-known/jwks.json",
]
HEADER_NAMES = [
    b"Authorization",
    b"Content-Type",
    b"Content-Encoding",
    b"Transfer-Encoding",
    b"Content-Length",
    b"Idempotency-Key",
    b"Cookie",
    b"Origin",
    b"X-Forwarded-Proto",
    b"X-Forwarded-For",
    b"Accept-Language",
    b"Expect",
]
HOSTILE_BYTES = st.sampled_from(
    [b"\xff\xfe", b"\x00", b"\x01", b"\x7f", b"\r", b"\n", b" " * 9000, b"\t", b"\xc3"]
)
VALUES = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(
        [
            b"Bearer " + KEY.encode(),
            b"Bearer " + KEY.encode() + b"\x01",
            b"Bearer " + KEY.encode() + b" " * 9000,
            b"Bearer \xff\xfe",
            b"gzip",
            b"deflate",
            b"br",
            b"chunked",
            b"gzip, chunked",
            b"application/json",
            b"multipart/form-data; boundary=x",
            b"application/x-www-form-urlencoded",
            b"-1",
            b"99999999999999999999",
            b"null",
            b"100-continue",
        ]
    ),
    st.builds(lambda good, bad: good + bad, st.sampled_from([b"Bearer ", b"gzip", b"1"]), HOSTILE_BYTES),
)
HEADER = st.tuples(st.one_of(st.sampled_from(HEADER_NAMES), st.binary(min_size=1, max_size=20)), VALUES)
JSON_BODIES = st.sampled_from(
    [
        b'{"recipient":"user-1","payload":"aGk="}',
        b"[" * 1000 + b"]" * 1000,
        b'{"recipient":"\xff\xfe","payload":"aGk="}',
        b"",
        b"{",
    ]
)
BODY = st.one_of(st.binary(max_size=512), JSON_BODIES)


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    """One raw HTTP/1.1 request, well-formed or not."""
    method = draw(
        st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"PATCH", b"G\xffT"])
    )
    path = draw(st.one_of(st.sampled_from(PATHS), st.binary(min_size=1, max_size=40).map(lambda b: b"/" + b)))
    body = draw(BODY)
    encode = draw(st.sampled_from(["none", "gzip", "deflate", "false-gzip"]))
    headers = [(b"Host", b"127.0.0.1"), *draw(st.lists(HEADER, max_size=6))]
    if encode == "gzip":
        body, headers = gzip.compress(body), [*headers, (b"Content-Encoding", b"gzip")]
    elif encode == "deflate":
        body, headers = zlib.compress(body), [*headers, (b"Content-Encoding", b"deflate")]
    elif encode == "false-gzip":
        headers.append((b"Content-Encoding", b"gzip"))
    framing = draw(st.sampled_from(["length", "short-length", "long-length", "chunked", "bad-chunk", "none"]))
    if framing == "length":
        headers.append((b"Content-Length", str(len(body)).encode()))
    elif framing == "short-length":
        headers.append((b"Content-Length", str(max(0, len(body) - 3)).encode()))
    elif framing == "long-length":
        headers.append((b"Content-Length", str(len(body) + 10).encode()))
    elif framing in {"chunked", "bad-chunk"}:
        headers.append((b"Transfer-Encoding", b"chunked"))
        size = b"%x" % len(body) if framing == "chunked" else b"zz"
        body = (size + b"\r\n" + body + b"\r\n0\r\n\r\n") if body else b"0\r\n\r\n"
    head = method + b" " + path + b" HTTP/1.1\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in headers)
    return head + b"Connection: close\r\n\r\n" + body


def _exchange(port: int, request: bytes) -> bytes:
    """Send the request, end our side, and read the whole answer (or what came before the close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


@dataclass
class Live:
    """The gateway under fuzzing: its port, and its log (left out of the repr hypothesis prints per case)."""

    port: int
    lines: list[dict[str, Any]] = field(repr=False)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One real gateway process for every case of the module (on this run's store engine)."""
    config = tmp_path_factory.mktemp("fuzz") / "config"
    shutil.copytree(EXAMPLE_CONFIG, config)
    schema = new_schema_name() if SUITE_ENGINE == "postgresql" else None
    if schema is not None:
        with (config / "gateway.toml").open("a", encoding="utf-8") as settings_file:
            settings_file.write(f'\n[store]\nurl = "{schema_url(schema)}"\n')
    try:
        with serving(config) as (process, port, lines):
            yield Live(port, lines)
            assert process.poll() is None, "the gateway died under the fuzzer"
            # Each case looks at the lines near it; the whole log is checked once more at the end.
            assert KEY[3:20] not in json.dumps(lines), "an API key reached the log"
    finally:
        if schema is not None:
            drop_schema(schema)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(request=requests())
def test_no_500_and_no_key_in_the_log(gateway: Live, request: bytes) -> None:
    """Whatever the bytes, the answer is never a 5xx server error, and the log never holds the key."""
    answer = _exchange(gateway.port, request)
    status_line = answer.split(b"\r\n", 1)[0]
    assert not status_line.startswith((b"HTTP/1.1 500", b"HTTP/1.0 500")), (request[:300], answer[:300])
    logged = json.dumps(gateway.lines[-20:])
    assert KEY not in logged
    assert KEY[3:20] not in logged

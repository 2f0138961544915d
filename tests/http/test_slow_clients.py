"""Slow and abusive clients: dropped or refused in bounded time, while other clients are served."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.conftest import edit
from tests.support import get_json, serving, wait_status

pytestmark = [pytest.mark.broker, pytest.mark.reliability]
WARUNG_KEY = "hg_OaJgRLK3o0V2k_HGoBNpsFEVC6Ha_fdaRIb3flcB36Y"


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.settimeout(10)
    return sock


def _read_response(sock: socket.socket) -> bytes:
    """One whole HTTP response (headers and Content-Length body), without waiting for the close."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(
        next(
            line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def quick_deadlines(config_dir: Path) -> Path:
    """Header and body deadlines of one second."""
    edit(
        config_dir / "gateway.toml",
        lambda t: t.replace(
            "max_body_bytes = 1048576",
            "max_body_bytes = 1048576\nheader_timeout_seconds = 1\nbody_timeout_seconds = 1",
        ),
    )
    return config_dir


def test_slow_headers_and_bodies_are_cut_off(quick_deadlines: Path) -> None:
    """Slowloris headers are dropped after the deadline, a slow body gets 408, and other clients are served meanwhile."""
    with serving(quick_deadlines) as (process, port, _):
        wait_status(port, "/readyz", 200, 15)
        slow = [_connect(port) for _ in range(20)]
        for sock in slow:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never the blank line
        started = time.monotonic()
        assert get_json(port, "/healthz")[0] == 200, "others must be served while slow clients hang"
        dropped = [_read_all(sock) for sock in slow]
        elapsed = time.monotonic() - started
        print(f"20 slowloris connections dropped after {elapsed:.2f}s")
        assert all(d == b"" for d in dropped)
        assert elapsed < 5

        body = _connect(port)
        body.sendall(
            b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer "
            + WARUNG_KEY.encode()
            + b'\r\nContent-Length: 500\r\nConnection: close\r\n\r\n{"recip'
        )
        answer = _read_response(body).decode()
        assert answer.startswith("HTTP/1.1 408"), answer[:200]
        assert json.loads(answer.split("\r\n\r\n", 1)[1])["error"]["code"] == "request_timeout"
        for sock in [*slow, body]:
            sock.close()
        process.send_signal(signal.SIGTERM)
        process.wait(15)


def test_oversized_and_malformed_requests_never_500(config_dir: Path) -> None:
    """Over-large bodies get 413, malformed JSON 400, wrong content types 415; no 500, and the server stays up."""
    with serving(config_dir) as (process, port, _):
        wait_status(port, "/readyz", 200, 15)
        cases = [
            (b"Content-Type: application/json", b"x" * 2_000_000, "413"),
            (b"Content-Type: application/json", b"{not json", "400"),
            (b"Content-Type: text/plain", b"hello", "415"),
        ]
        for content_type, payload, expected in cases:
            sock = _connect(port)
            sock.sendall(
                b"POST /v1/messages HTTP/1.1\r\nHost: x\r\n"
                + content_type
                + b"\r\nAuthorization: Bearer "
                + WARUNG_KEY.encode()
                + b"\r\nContent-Length: "
                + str(len(payload)).encode()
                + b"\r\nConnection: close\r\n\r\n"
            )
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(payload)  # the server may refuse before reading it all
            status_line = _read_all(sock).split(b"\r\n", 1)[0].decode()
            sock.close()
            assert expected in status_line, (expected, status_line)
        assert get_json(port, "/healthz")[0] == 200
        process.send_signal(signal.SIGTERM)
        process.wait(15)


def _rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


def test_too_many_connections_are_refused_with_bounded_memory(config_dir: Path) -> None:
    """Past max_connections new connections get a fast 503; memory stays flat; freed slots serve again."""
    edit(
        config_dir / "gateway.toml",
        lambda t: t.replace("max_connections = 1024", "max_connections = 100"),
    )
    with serving(config_dir) as (process, port, lines):
        wait_status(port, "/readyz", 200, 15)
        before = _rss_kib(process.pid)
        stack = contextlib.ExitStack()
        held = [stack.enter_context(_connect(port)) for _ in range(100)]
        for sock in held:
            sock.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\n")  # half a request: the slot stays taken
        time.sleep(0.5)  # let the server accept them all
        refused = 0
        slowest = 0.0
        for _ in range(2000):
            started = time.monotonic()
            extra = _connect(port)
            answer = _read_all(extra)
            extra.close()
            slowest = max(slowest, time.monotonic() - started)
            assert answer.startswith(b"HTTP/1.1 503"), answer[:100]
            assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "too_many_connections"
            refused += 1
        after = _rss_kib(process.pid)
        for sock in held[:10]:
            sock.close()
        time.sleep(0.3)
        assert get_json(port, "/healthz")[0] == 200, "a freed slot serves again"
        assert any(r["event"] == "http.connections_refused" for r in lines)
        growth_mib = (after - before) / 1024
        print(
            f"100 connections held, {refused} refused with 503 (slowest {slowest * 1000:.1f} ms); "
            f"RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB ({growth_mib:+.1f})"
        )
        assert growth_mib < 20
        assert slowest < 1.0
        stack.close()
        process.send_signal(signal.SIGTERM)
        process.wait(15)

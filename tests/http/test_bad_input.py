"""Malformed input is a 4xx, never a 500: raw bytes on the wire, as a hostile client sends them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.http.keys import BROKER
from tests.support import gateway_client, serving, wait_until


async def _broker_up(client: Any) -> bool:
    return bool(client.app[BROKER].status().connected)


async def _raw(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 10)
    finally:
        writer.close()


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/disclosure", "/v1/network/users/u/export"])
async def test_non_utf8_authorization_is_401(config_dir: Path, path: str) -> None:
    """An Authorization header with bytes that are not UTF-8 is refused as no credential, on every /v1 path."""
    async with gateway_client(config_dir, "bad-input") as client:
        # Started up fully first: the test is about the answer, not a shutdown racing the broker link.
        await wait_until(lambda: _broker_up(client), 15, "the broker link")
        port = client.server.port
        assert port is not None
        answer = await _raw(
            port,
            f"GET {path} HTTP/1.1\r\nHost: x\r\n".encode()
            + b"Authorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n",
        )
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 401 Unauthorized", answer[:300]


KEY = "hg_OaJgRLK3o0V2k_HGoBNpsFEVC6Ha_fdaRIb3flcB36Y"  # warung-sari's example key


@pytest.mark.parametrize(
    "header",
    [
        b"Authorization: Bearer " + KEY.encode() + b"\x01",
        b"Authorization: Bearer " + KEY.encode() + b" " * 9000,
    ],
    ids=["control-byte", "9000-spaces"],
)
async def test_a_key_in_a_broken_header_never_reaches_the_log(config_dir: Path, header: bytes) -> None:
    """A valid key in a header line the parser rejects is answered 4xx and logged nowhere, not even by aiohttp."""
    with serving(config_dir) as (_process, port, lines):
        answer = await _raw(
            port, b"GET /v1/disclosure HTTP/1.1\r\nHost: x\r\n" + header + b"\r\nConnection: close\r\n\r\n"
        )
        status = int(answer.split(b" ", 2)[1])
        await asyncio.sleep(0.5)  # let the gateway write what it logs about it
    assert 400 <= status < 500, answer[:200]
    logged = "\n".join(json.dumps(line) for line in lines)
    assert KEY not in logged
    assert KEY[3:20] not in logged


async def test_deep_json_and_false_encodings_are_400(config_dir: Path) -> None:
    """JSON nested 1,000 deep, and gzip or deflate on a plain body, answer 400 with a code, not 500."""
    async with gateway_client(config_dir, "bad-input") as client:
        auth = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        for depth, answer in ((1000, (422, "invalid_request")), (100_000, (400, "invalid_json"))):
            deep = await client.post("/v1/messages", data=b"[" * depth + b"]" * depth, headers=auth)
            assert (deep.status, (await deep.json())["error"]["code"]) == answer, depth
        for encoding in ("gzip", "deflate"):
            fake = await client.post(
                "/v1/messages",
                data=b'{"recipient": "u", "payload": "AA=="}',
                headers={**auth, "Content-Encoding": encoding, "Connection": "close"},
            )
            assert fake.status == 400, await fake.text()
            assert (await fake.json())["error"]["code"] == "bad_content_encoding"


async def test_console_sign_in_with_bad_utf8_is_400(config_dir: Path) -> None:
    """A multipart sign-in whose fields are not UTF-8 is a 400, not a 500."""
    async with gateway_client(config_dir, "bad-input") as client:
        boundary = "xyz"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="key"\r\n\r\n'.encode()
            + b"\xff\xfe\xfd"
            + f"\r\n--{boundary}--\r\n".encode()
        )
        response = await client.post(
            "/console/login", data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        assert response.status == 400, await response.text()

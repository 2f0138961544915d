"""Notices signed in a helper process are exactly what the loop thread would have signed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.disclosure.jws import verify_detached
from gateway.disclosure.keys import SigningKey
from gateway.disclosure.signing_pool import MIN_POOLED, NoticeWindow, SigningPool, sign_window
from gateway.events import NOTICE_PUBLISHED

KEY = SigningKey("hg-test", Ed25519PrivateKey.generate())


def _window(size: int) -> NoticeWindow:
    return NoticeWindow(
        NOTICE_PUBLISHED,
        "nimbus-shop",
        datetime(2026, 11, 29, tzinfo=UTC),
        {"business_id": "nimbus-shop", "revision": 2, "reason": "hosting_changed", "text": "héllo ✓"},
        [(f"user-{i}", f"notice-{i}") for i in range(size)],
    )


async def test_pooled_signatures_match_inline_ones_byte_for_byte() -> None:
    """Same headers and bodies as signing on the loop; every JWS verifies; order kept."""
    window = _window(MIN_POOLED * 3)
    pool = SigningPool(1)
    try:
        pooled = await pool.sign(window, KEY)
    finally:
        pool.close()
    inline = sign_window(window, KEY)
    assert [body for _, body in pooled] == [body for _, body in inline]
    assert [h["cloudEvents_id"] for h, _ in pooled] == [n for _, n in window.recipients]
    for headers, body in pooled:
        verify_detached(str(headers["cloudEvents_jws"]), body, {KEY.kid: KEY.private.public_key()})


async def test_a_dead_helper_is_replaced_and_the_window_still_signed() -> None:
    """The helper process killed with -9: that window is signed on the loop, the next in a new helper."""
    pool = SigningPool(1)
    try:
        await pool.sign(_window(MIN_POOLED), KEY)
        assert pool._pool is not None
        for pid in list(pool._pool._processes):  # the executor's own record of its workers
            os.kill(pid, signal.SIGKILL)
        signed = await pool.sign(_window(MIN_POOLED), KEY)
        assert len(signed) == MIN_POOLED
        again = await pool.sign(_window(MIN_POOLED), KEY)
        assert [b for _, b in again] == [b for _, b in sign_window(_window(MIN_POOLED), KEY)]
    finally:
        pool.close()


@pytest.mark.parametrize("size", [0, 1, MIN_POOLED - 1])
async def test_small_windows_are_signed_inline(size: int) -> None:
    """No helper process is started for a window smaller than MIN_POOLED."""
    pool = SigningPool(1)
    assert len(await pool.sign(_window(size), KEY)) == size
    assert pool._pool is None


_HOLDER = """
import asyncio, sys, time
from tests.disclosure.test_signing_pool import KEY, _window
from gateway.disclosure.signing_pool import MIN_POOLED, SigningPool
pool = SigningPool(1)
asyncio.run(pool.sign(_window(MIN_POOLED), KEY))
print(*pool._pool._processes, flush=True)
time.sleep(60)
"""


def test_helpers_die_with_a_gateway_killed_by_9() -> None:
    """A gateway killed with -9 leaves no signing helper behind (it would hold its pipes open)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2]
    )
    assert holder.stdout is not None
    helpers = [int(pid) for pid in holder.stdout.readline().split()]
    assert helpers
    holder.kill()
    holder.wait(10)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in helpers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in helpers if Path(f"/proc/{pid}").exists()], "helper outlived the gateway"
    holder.stdout.close()

"""Helpers for tests that drive real servers: waiting, closed ports, the real broker."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import pytest


async def wait_until(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    """Poll ``check`` until it is true; fail naming ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.1)


@contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections for as long as the block runs."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # bound, never listening: connects are refused
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def rabbitmqctl(*args: str) -> None:
    """Run rabbitmqctl, failing the test with its output when it fails."""
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmqctl is not installed; broker restart tests need a local RabbitMQ")
    result = subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"rabbitmqctl {' '.join(args)} failed: {result.stderr or result.stdout}")


@contextmanager
def broker_stopped() -> Iterator[None]:
    """Stop the RabbitMQ application for the block, and always start it again."""
    rabbitmqctl("stop_app")
    try:
        yield
    finally:
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")

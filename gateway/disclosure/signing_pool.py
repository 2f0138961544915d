"""Sign windows of per-chat notices in helper processes, off the event loop's core.

A fan-out signs every notice (Ed25519) and serialises it (canonical JSON): about
a third of what each notice costs, all of it on the loop thread that also frames
the AMQP publishes. A signing thread was measured and lost (it starves for the
GIL); a process runs on the other core. The window's shared parts (template,
key, attributes) cross once; the results are the exact headers and bodies the
loop would have made. Small windows are signed inline: the hop would cost more.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.disclosure.batch import sign_batch
from gateway.disclosure.keys import SigningKey
from gateway.disclosure.signed import EventSigner

log = structlog.get_logger("hostgate.signing")

# Below this many notices a window is signed on the loop thread.
MIN_POOLED = 64

Signed = tuple[dict[str, str | int], bytes]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class NoticeWindow:
    """What one window of notices shares, and who they go to: (user id, notice id) pairs."""

    event_type: str
    subject: str
    when: datetime
    template: dict[str, object]
    recipients: Sequence[tuple[str, str]]


def sign_window(window: NoticeWindow, key: SigningKey) -> list[Signed]:
    """Headers and body of each notice in ``window``, in order."""
    signer = EventSigner(window.event_type, window.subject, key, window.when)
    return [
        signer.sign(notice_id, {**window.template, "user_id": user, "notice_id": notice_id})
        for user, notice_id in window.recipients
    ]


_PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:
    """In a helper: end when the gateway ends, even by kill -9 (else it lingers holding its pipes)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the gateway died before the line above took effect
        os._exit(0)


def batch_window(window: NoticeWindow, key: SigningKey, batch_id: str) -> Signed:
    """The window as one batch of notices under one signature (gateway.disclosure.batch)."""
    return sign_batch(batch_id, window.subject, window.when, window.template, window.recipients, key)


def _sign_in_child(window: NoticeWindow, kid: str, raw_key: bytes) -> list[Signed]:
    return sign_window(window, SigningKey(kid, Ed25519PrivateKey.from_private_bytes(raw_key)))


def _batch_in_child(window: NoticeWindow, kid: str, raw_key: bytes, batch_id: str) -> Signed:
    return batch_window(window, SigningKey(kid, Ed25519PrivateKey.from_private_bytes(raw_key)), batch_id)


class SigningPool:
    """``processes`` helper processes (0: sign on the loop thread), started on first use."""

    def __init__(self, processes: int) -> None:
        self._processes = processes
        self._pool: ProcessPoolExecutor | None = None

    async def sign(self, window: NoticeWindow, key: SigningKey) -> list[Signed]:
        """Sign a window, in a helper process when it is worth the hop."""
        return await self._run(window, key, sign_window, _sign_in_child)

    async def batch(self, window: NoticeWindow, key: SigningKey, batch_id: str) -> Signed:
        """The window as one signed batch, hashed in a helper process when it is worth the hop."""
        return await self._run(window, key, batch_window, _batch_in_child, batch_id)

    async def _run(
        self,
        window: NoticeWindow,
        key: SigningKey,
        here: Callable[..., T],
        in_child: Callable[..., T],
        *extra: str,
    ) -> T:
        """``here(window, key, *extra)``, or ``in_child`` with the raw key in a helper process."""
        if self._processes == 0 or len(window.recipients) < MIN_POOLED:
            return here(window, key, *extra)
        pool = self._start()
        try:
            return await asyncio.get_running_loop().run_in_executor(
                pool, in_child, window, key.kid, key.private.private_bytes_raw(), *extra
            )
        except BrokenProcessPool:
            # A helper died (killed, out of memory): do this window here, start afresh next time.
            log.warning("signing.pool_broken")
            self._pool = None
            return here(window, key, *extra)

    def _start(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: a clean interpreter, not a copy of the running gateway, and a child of the
            # gateway itself, so it can be told to die with it.
            self._pool = ProcessPoolExecutor(
                self._processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_die_with,
                initargs=(os.getpid(),),
            )
        return self._pool

    def close(self) -> None:
        """Stop the helper processes."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
